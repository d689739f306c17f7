"""Member authentication for the client API: ``Authorization: Bearer ma1....``.

``member()`` requires a signed-in member; ``member_or_public()`` (defined in
``miniops.core.apiauth``, with the resolver this module registers) accepts anyone
and names the member when a token is sent (a bad or expired token still answers
401, so the app knows to refresh). Checking a token costs an HMAC and one cache
read (is the session still open?), falling back to the database on a miss.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from miniops.core.apiauth import MemberOrPublicAuth, member_or_public
from miniops.members import selectors, tokens
from miniops.members.models import Member


@dataclass
class MemberPrincipal:
    """``request.auth`` for member calls."""

    access = "member"
    member_id: int
    session_id: Any

    @property
    def throttle_key(self) -> str:
        return f"member:{self.member_id}"

    @cached_property
    def member(self) -> Member:
        return Member.objects.get(pk=self.member_id)

    def __bool__(self) -> bool:
        return True


def principal_from_header(authorization: str) -> MemberPrincipal | None:
    """The member of an ``Authorization: Bearer …`` header, or None (for callers
    outside django-ninja, which parses the header itself)."""
    scheme, _sep, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return _principal(token.strip())


def _principal(token: str) -> MemberPrincipal | None:
    claims = tokens.parse_access(token)
    if claims is None or not selectors.session_is_open(claims.session_id, claims.member_id):
        return None
    return MemberPrincipal(member_id=claims.member_id, session_id=claims.session_id)


class MemberAuth(HttpBearer):
    access = "member"
    permission = None

    def authenticate(self, request: HttpRequest, token: str) -> MemberPrincipal | None:
        return _principal(token)


def me_of(request: HttpRequest) -> Member:
    """The signed-in member of a ``member()`` operation (one query, on first use)."""
    auth = request.auth  # type: ignore[attr-defined]
    if not isinstance(auth, MemberPrincipal):
        raise TypeError("me_of() needs an operation with auth=member()")
    return auth.member


def member() -> MemberAuth:
    return MemberAuth()


__all__ = [
    "MemberAuth",
    "MemberOrPublicAuth",
    "MemberPrincipal",
    "me_of",
    "member",
    "member_or_public",
    "principal_from_header",
    "resolve",
]


def resolve(token: str) -> MemberPrincipal | None:
    """The resolver ``miniops.core.apiauth.member_or_public`` uses (registered in
    ``MembersConfig.ready``)."""
    return _principal(token)
