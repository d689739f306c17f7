"""Every API operation declares who may call it, as its ninja ``auth``.

* ``public()`` — anyone (platform config, catalog reads, payment notices that
  carry their own signature);
* ``miniops.members.apiauth.member()`` — a signed-in mini-program member;
* ``member_or_public()`` — anyone, naming the member when a member token is sent
  (the members app registers how a token becomes a member, so apps below members,
  such as the catalog, can offer member-aware public pages);
* ``miniops.accounts.apiauth.requires(P.X)`` — a management API token whose
  scope includes permission ``X``.

Each auth object carries ``access`` (and ``permission`` for operators) so the
permission-matrix tests can walk every route and check it against the table; a
route without one of these fails the suite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer


class PublicAccess:
    """``request.auth`` on public endpoints: truthy, but nobody in particular."""

    access = "public"

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "<public>"


_PUBLIC = PublicAccess()


class public:
    access = "public"
    permission = None

    def __call__(self, request: HttpRequest) -> Any:
        return _PUBLIC


# --- a member, if there is one (the members app supplies the resolver) ------------------------
#: ``resolver(token) -> principal | None``. Registered by ``MembersConfig.ready``; until
#: then every token is refused (401).
_member_resolver: Callable[[str], Any] | None = None


def register_member_resolver(resolver: Callable[[str], Any]) -> None:
    global _member_resolver
    _member_resolver = resolver


class MemberOrPublicAuth(HttpBearer):
    """Anyone; ``request.auth`` names the member when a token is sent. A bad or
    expired token still answers 401, so the app knows to refresh."""

    access = "public"
    permission = None

    def __call__(self, request: HttpRequest) -> Any:
        if not request.headers.get("Authorization"):
            return _PUBLIC
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return _member_resolver(token) if _member_resolver is not None else None


def member_or_public() -> MemberOrPublicAuth:
    return MemberOrPublicAuth()
