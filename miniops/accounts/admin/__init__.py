"""Console pages: operators, roles, the permission matrix, API tokens, the audit log."""

from __future__ import annotations

from miniops.accounts.admin.audit import (
    AuditLogAdmin,
)
from miniops.accounts.admin.operators import (
    OperatorAdmin,
    SessionInline,
)
from miniops.accounts.admin.roles import (
    RoleAdmin,
    permission_matrix,
)
from miniops.accounts.admin.tokens import (
    ApiTokenAdmin,
)

__all__ = [
    "ApiTokenAdmin",
    "AuditLogAdmin",
    "OperatorAdmin",
    "RoleAdmin",
    "SessionInline",
    "permission_matrix",
]
