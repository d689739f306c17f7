from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from miniops.accounts.models import Operator


class OperatorBackend(ModelBackend):
    """Password sign-in for operators; permissions come from roles, not Django's tables."""

    def get_user(self, user_id: Any) -> Operator | None:
        try:
            operator = Operator.objects.prefetch_related("roles").get(pk=user_id)
        except Operator.DoesNotExist:
            return None
        return operator if self.user_can_authenticate(operator) else None

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        return set(getattr(user_obj, "permissions", ()))

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        return bool(getattr(user_obj, "is_active", False)) and perm in self.get_all_permissions(
            user_obj
        )
