"""Audiences: who a coupon, a push campaign or a home-page section is for.

An audience is named by a key ``"<kind>:<ref>"`` — ``tag:vip``, ``segment:12``.
Each kind is provided by the app that owns it (members provides ``tag``, segments
provides ``segment``), registered from its ``ready()``; consumers (marketing's
coupon issue, notifications, the CMS) ask this registry and never import the
provider, so a lower layer can target an upper layer's audiences.

A provider answers four questions: the choices an operator can pick (with their
member counts, for the picker), the member ids of one audience, how many there
are, and whether one member belongs. An unknown kind or ref is refused with
``UnknownAudience`` (a 400 in the shared error shape), never treated as empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from miniops.core.errors import InvalidInput

MAX_KEY_LENGTH = 100
_KEY = re.compile(r"^(?P<kind>[a-z][a-z_]{0,30}):(?P<ref>\S.*)$", re.DOTALL)


class UnknownAudience(InvalidInput):
    code = "unknown_audience"
    default_message = _("This audience does not exist.")


@dataclass(frozen=True)
class Audience:
    key: str
    kind: str
    ref: str
    label: str
    count: int | None = None


@dataclass(frozen=True)
class Choice:
    """One pickable audience as a provider lists it."""

    ref: str
    label: str
    count: int | None = None


@dataclass(frozen=True)
class Provider:
    kind: str
    label: Any
    choices: Callable[[], Iterable[Choice]]
    member_ids: Callable[[str], Iterable[int]]
    count: Callable[[str], int] | None = None
    contains: Callable[[str, int], bool] | None = None
    describe: Callable[[str], str] | None = None


_providers: dict[str, Provider] = {}


def register(
    kind: str,
    *,
    label: Any,
    choices: Callable[[], Iterable[Choice]],
    member_ids: Callable[[str], Iterable[int]],
    count: Callable[[str], int] | None = None,
    contains: Callable[[str, int], bool] | None = None,
    describe: Callable[[str], str] | None = None,
) -> None:
    """Offer audiences of ``kind``. ``member_ids``, ``count``, ``contains`` and
    ``describe`` raise ``UnknownAudience`` for a ref that does not exist; the last
    three default to answers computed from ``member_ids``."""
    if not re.fullmatch(r"[a-z][a-z_]{0,30}", kind):
        raise ValueError(f"bad audience kind {kind!r}")
    _providers[kind] = Provider(kind, label, choices, member_ids, count, contains, describe)


def unregister(kind: str) -> None:
    _providers.pop(kind, None)


def kinds() -> list[tuple[str, str]]:
    return [(kind, str(provider.label)) for kind, provider in _providers.items()]


def parse(key: Any) -> tuple[Provider, str]:
    """The provider and ref of ``key``; ``UnknownAudience`` if malformed or unknown."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise UnknownAudience(fields={"audience": _("Pick an audience from the list.")})
    match = _KEY.match(key.strip())
    if not match or match["kind"] not in _providers:
        raise UnknownAudience(fields={"audience": _("Pick an audience from the list.")})
    return _providers[match["kind"]], match["ref"].strip()


def choices(kinds: Iterable[str] | None = None) -> list[Audience]:
    """Every pickable audience (of ``kinds``, default all), with member counts."""
    wanted = list(kinds) if kinds is not None else list(_providers)
    found = []
    for kind in wanted:
        provider = _providers.get(kind)
        if provider is None:
            continue
        for choice in provider.choices():
            found.append(
                Audience(f"{kind}:{choice.ref}", kind, choice.ref, choice.label, choice.count)
            )
    return found


def member_ids(key: str) -> list[int]:
    """The ids of the members in ``key``, ascending, each once."""
    provider, ref = parse(key)
    return sorted(set(provider.member_ids(ref)))


def count(key: str) -> int:
    provider, ref = parse(key)
    if provider.count is not None:
        return provider.count(ref)
    return len(set(provider.member_ids(ref)))


def contains(key: str, member_id: int) -> bool:
    provider, ref = parse(key)
    if provider.contains is not None:
        return provider.contains(ref, member_id)
    return member_id in set(provider.member_ids(ref))


def describe(key: str) -> Audience:
    """The audience named by ``key`` with its label and count (validates it)."""
    provider, ref = parse(key)
    label = provider.describe(ref) if provider.describe is not None else None
    number = count(key)
    if label is None:
        label = f"{provider.label}: {ref}"
    return Audience(f"{provider.kind}:{ref}", provider.kind, ref, label, number)
