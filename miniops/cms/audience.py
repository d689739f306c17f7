"""Who a home section is for: the audience keys of ``miniops.core.audiences``
(``tag:vip``; ``segment:12`` once segments registers its kind).

Until the shared registry is importable this module answers ``tag:<name>`` from
the members app itself, with the same meaning (the members of that tag), so the
CMS works on either side of that landing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from miniops.core.errors import InvalidInput


def _registry() -> Any:
    try:
        return importlib.import_module("miniops.core.audiences")
    except ImportError:
        return None


@dataclass(frozen=True)
class Choice:
    key: str
    label: str
    count: int | None


def _refuse() -> InvalidInput:
    registry = _registry()
    fields = {"audience": _("Pick an audience from the list.")}
    if registry is not None:
        return registry.UnknownAudience(fields=fields)
    return InvalidInput(_("This audience does not exist."), code="unknown_audience", fields=fields)


def _fallback_tag(key: str) -> Any:
    from miniops.members.models import MemberTag

    kind, _sep, ref = key.partition(":")
    tag = MemberTag.objects.filter(name=ref.strip()).first() if kind == "tag" and ref else None
    if tag is None:
        raise _refuse()
    return tag


def validate(key: str) -> str:
    """``key`` normalised ("" for everyone); refused when no such audience exists."""
    key = (key or "").strip()
    if not key:
        return ""
    if len(key) > 100:
        raise _refuse()
    registry = _registry()
    if registry is not None:
        provider, ref = registry.parse(key)
        registry.describe(key)  # the provider checks the ref exists
        return f"{provider.kind}:{ref}"
    tag = _fallback_tag(key)
    return f"tag:{tag.name}"


def contains(key: str, member_id: int) -> bool:
    """Is the member in the audience? An audience that no longer exists (a tag
    deleted after the section was saved) contains nobody."""
    registry = _registry()
    try:
        if registry is not None:
            return bool(registry.contains(key, member_id))
        from miniops.members.models import Member

        return Member.objects.filter(pk=member_id, tags=_fallback_tag(key)).exists()
    except InvalidInput:
        return False


def choices() -> list[Choice]:
    """Every audience an operator can pick, with member counts."""
    registry = _registry()
    if registry is not None:
        return [Choice(a.key, str(a.label), a.count) for a in registry.choices()]
    from django.db.models import Count

    from miniops.members.models import MemberTag

    return [
        Choice(f"tag:{tag.name}", str(_("Tag: %(name)s") % {"name": tag.name}), tag.n)
        for tag in MemberTag.objects.annotate(n=Count("members")).order_by("name")
    ]


def label(key: str) -> str:
    if not key:
        return str(_("Everyone"))
    for choice in choices():
        if choice.key == key:
            return choice.label
    return key
