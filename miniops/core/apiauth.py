"""Every API operation declares who may call it, as its ninja ``auth``.

* ``public()`` — anyone (platform config, catalog reads, payment notices that
  carry their own signature);
* ``miniops.members.apiauth.member()`` — a signed-in mini-program member;
* ``miniops.accounts.apiauth.requires(P.X)`` — a management API token whose
  scope includes permission ``X``.

Each auth object carries ``access`` (and ``permission`` for operators) so the
permission-matrix tests can walk every route and check it against the table; a
route without one of these fails the suite.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


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
