"""Management API authentication: ``auth=requires(P.X)`` on every operation.

Bearer tokens (``mo_<prefix>_<secret>``) are checked, then the permission: a
missing or bad token answers 401, a valid token without the permission 403 —
both before the request body is parsed.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from miniops.accounts import services
from miniops.accounts.services import TokenPrincipal
from miniops.core.audit import set_request_actor
from miniops.core.errors import Forbidden
from miniops.core.netutils import client_ip
from miniops.core.permissions import P


class OperatorTokenAuth(HttpBearer):
    access = "operator"

    def __init__(self, permission: P | None) -> None:
        super().__init__()
        #: ``None``: any valid token (e.g. "who am I").
        self.permission = permission

    def authenticate(self, request: HttpRequest, token: str) -> TokenPrincipal | None:
        principal = services.authenticate_api_token(token, ip=client_ip(request))
        if principal is None:
            return None
        if self.permission is not None and not principal.has(self.permission):
            raise Forbidden()
        request.user = principal.operator
        set_request_actor(principal.operator)
        return principal


def requires(permission: P | None) -> OperatorTokenAuth:
    return OperatorTokenAuth(permission)
