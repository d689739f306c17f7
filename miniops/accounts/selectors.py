from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from miniops.accounts.models import Operator, Role
from miniops.core.permissions import PERMISSIONS, P


def labelled(codes: Iterable[str]) -> list[tuple[str, str]]:
    """(label, code) pairs in table order."""
    wanted = set(codes)
    return [(str(d.label), str(code)) for code, d in PERMISSIONS.items() if code in wanted]


def permission_matrix() -> tuple[list[Role], list[dict[str, Any]]]:
    """Roles as columns, permissions as rows (grouped), a tick where granted."""
    roles = list(Role.objects.order_by("-is_system", "id"))
    granted = {role.pk: role.effective_permissions() for role in roles}
    rows = []
    for code, definition in PERMISSIONS.items():
        rows.append(
            {
                "code": str(code),
                "group": str(definition.group),
                "label": str(definition.label),
                "cells": [str(code) in granted[role.pk] for role in roles],
            }
        )
    return roles, rows


def operators_with_roles() -> Any:
    return Operator.objects.prefetch_related("roles").order_by("username")


def role_permissions(role: Role) -> list[str]:
    return sorted(str(code) for code in role.effective_permissions() if code in set(map(str, P)))
