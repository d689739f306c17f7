"""Who is acting in this request, typed: the console operator or the API token."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from miniops.accounts.models import Operator
from miniops.accounts.services import TokenPrincipal


def operator_of(request: HttpRequest) -> Operator:
    user = request.user
    if not isinstance(user, Operator):
        raise PermissionDenied
    return user


def principal_of(request: HttpRequest) -> TokenPrincipal:
    auth = getattr(request, "auth", None)
    if not isinstance(auth, TokenPrincipal):
        raise PermissionDenied
    return auth


def token_operator(request: HttpRequest) -> Operator:
    """The operator a management API token acts for: the ``actor`` of its writes."""
    return principal_of(request).operator
