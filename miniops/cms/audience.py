"""Who a home section is for: the audience keys of ``miniops.core.audiences``
(``tag:vip``; ``segment:12`` once segments registers its kind)."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from miniops.core import audiences
from miniops.core.errors import InvalidInput


@dataclass(frozen=True)
class Choice:
    key: str
    label: str
    count: int | None


def validate(key: str) -> str:
    """``key`` normalised ("" for everyone); ``UnknownAudience`` (a 400) when no
    such audience exists."""
    key = (key or "").strip()
    if not key:
        return ""
    provider, ref = audiences.parse(key)
    audiences.describe(key)  # the provider checks that the ref exists
    return f"{provider.kind}:{ref}"


def contains(key: str, member_id: int) -> bool:
    """Is the member in the audience? An audience that no longer exists (a tag
    deleted after the section was saved) contains nobody."""
    try:
        return bool(audiences.contains(key, member_id))
    except InvalidInput:
        return False


def choices() -> list[Choice]:
    """Every audience an operator can pick, with member counts."""
    return [Choice(a.key, str(a.label), a.count) for a in audiences.choices()]


def label(key: str) -> str:
    if not key:
        return str(_("Everyone"))
    try:
        return str(audiences.describe(key).label)
    except InvalidInput:
        return key
