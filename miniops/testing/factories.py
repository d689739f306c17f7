"""Factories for tests: one per model, real rows in the real database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from miniops.accounts import services as account_services
from miniops.accounts.models import ApiToken, Operator, Role
from miniops.core.models import SystemSettings
from miniops.core.permissions import ROLES, R

TEST_PASSWORD = "Correct-horse-9"  # noqa: S105


class OperatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Operator
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"operator{n}")
    display_name = factory.Faker("name", locale="zh_CN")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password(TEST_PASSWORD)

    @factory.post_generation
    def roles(self, create: bool, extracted: Any, **kwargs: object) -> None:
        if create and extracted:
            codes = [extracted] if isinstance(extracted, str) else list(extracted)
            operator: Any = self
            operator.roles.set(Role.objects.filter(code__in=codes))


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Role

    code = factory.Sequence(lambda n: f"custom-{n}")
    name = factory.Sequence(lambda n: f"Custom role {n}")
    permissions = factory.LazyFunction(list)


def operator_with_role(role: str | None, **kwargs: object) -> Operator:
    # Transactional tests flush every table, seeded roles included.
    account_services.ensure_system_roles()
    operator: Operator = OperatorFactory(roles=role, **kwargs)  # type: ignore[assignment]
    return Operator.objects.prefetch_related("roles").get(pk=operator.pk)


def totp_device(operator: Operator, *, confirmed: bool = True) -> TOTPDevice:
    return TOTPDevice.objects.create(user=operator, name="test", confirmed=confirmed)


def api_token(
    operator: Operator, permissions: list[str] | None = None, *, days: int = 30
) -> tuple[ApiToken, str]:
    """A token holding ``permissions`` (default: all the owner's). Made through the
    service when the owner may create tokens, directly otherwise (the matrix
    tests need tokens for every role, including ones that cannot create them)."""
    scope = sorted(permissions if permissions is not None else operator.permissions)
    if operator.has_permission("api_tokens.use") and scope:
        return account_services.create_api_token(
            operator=operator, name="test", permissions=scope, expires_in_days=days, actor=operator
        )
    import secrets

    prefix = secrets.token_hex(5)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        operator=operator,
        name="test",
        prefix=prefix,
        secret_hash=account_services._hash_secret(secret),
        permissions=scope,
        expires_at=timezone.now() + timedelta(days=days),
    )
    return token, f"mo_{prefix}_{secret}"


def audit_entry() -> LogEntry:
    return LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(SystemSettings),
        object_pk="1",
        object_repr="System settings",
        action=LogEntry.Action.UPDATE,
        changes={"platform_name": ["a", "b"]},
    )


def system_settings() -> SystemSettings:
    row, _ = SystemSettings.objects.get_or_create(id=1)
    return row


ALL_ROLE_CODES = [str(code) for code in R]
SENSITIVE_ROLE_CODES = [str(code) for code, role in ROLES.items() if role.requires_2fa]
