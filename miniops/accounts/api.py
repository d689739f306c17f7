"""Management API: operators, roles, permissions, the audit log, system settings.

Every operation declares its permission with ``auth=requires(P.X)``; tokens are
created in the console (``API tokens``) and sent as ``Authorization: Bearer``.
"""

from datetime import datetime
from typing import Any

from auditlog.models import LogEntry
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from miniops.accounts import selectors, services
from miniops.accounts.apiauth import requires
from miniops.accounts.context import principal_of, token_operator
from miniops.accounts.models import Operator, Role
from miniops.core import selectors as core_selectors
from miniops.core import services as core_services
from miniops.core.models import SystemSettings
from miniops.core.openapi import errors
from miniops.core.pagination import Pagination
from miniops.core.permissions import PERMISSIONS, P
from miniops.core.schemas import ID, IsoDateTime, StrictIn

router = Router(tags=["management: operators and audit"])

_ACTIONS = {"create": 0, "update": 1, "delete": 2, "access": 3}
_ACTION_NAMES = {v: k for k, v in _ACTIONS.items()}


class TokenMeOut(Schema):
    """The calling management token and its operator (``GET /manage/me``)."""

    operator_id: int
    username: str
    token_name: str
    token_expires_at: datetime
    permissions: list[str]


class RoleOut(Schema):
    id: int
    code: str
    name: str
    is_system: bool
    requires_2fa: bool
    permissions: list[str]


class OperatorOut(Schema):
    id: int
    username: str
    display_name: str
    email: str
    is_active: bool
    roles: list[str]
    last_login: datetime | None
    date_joined: datetime

    @staticmethod
    def resolve_roles(operator: Operator) -> list[str]:
        return [role.code for role in operator.roles.all()]


class PermissionOut(Schema):
    code: str
    group: str
    label: str


class AuditOut(Schema):
    id: int
    timestamp: datetime
    actor: str | None
    action: str
    model: str
    object_pk: str
    object_repr: str
    changes: dict[str, Any] | None
    remote_addr: str | None

    @staticmethod
    def resolve_actor(entry: LogEntry) -> str | None:
        return entry.actor.username if entry.actor else None

    @staticmethod
    def resolve_action(entry: LogEntry) -> str:
        return _ACTION_NAMES.get(entry.action, str(entry.action))

    @staticmethod
    def resolve_model(entry: LogEntry) -> str:
        return f"{entry.content_type.app_label}.{entry.content_type.model}"

    @staticmethod
    def resolve_changes(entry: LogEntry) -> dict[str, Any] | None:
        return entry.changes if isinstance(entry.changes, dict) else None


class AuditFilter(Schema):
    actor: str | None = Field(None, max_length=64, description="operator username")
    model: str | None = Field(
        None, max_length=100, description="app_label.model, e.g. accounts.operator"
    )
    action: str | None = Field(None, pattern="^(create|update|delete|access)$")
    since: IsoDateTime | None = None
    until: IsoDateTime | None = None


class DisableIn(StrictIn):
    reason: str = Field("", max_length=255)


class SettingsOut(Schema):
    platform_name: str
    theme_primary: str
    theme_secondary: str
    miniprogram_app_id: str
    cs_phone: str
    cs_wechat: str
    cs_email: str
    cs_hours: str
    updated_at: datetime


class SettingsPatch(StrictIn):
    platform_name: str | None = Field(None, min_length=1, max_length=64)
    theme_primary: str | None = Field(None, pattern=r"^#[0-9A-Fa-f]{6}$")
    theme_secondary: str | None = Field(None, pattern=r"^#[0-9A-Fa-f]{6}$")
    miniprogram_app_id: str | None = Field(None, pattern=r"^(wx[0-9a-f]{16})?$")
    cs_phone: str | None = Field(None, max_length=32)
    cs_wechat: str | None = Field(None, max_length=64)
    cs_email: str | None = Field(None, max_length=254)
    cs_hours: str | None = Field(None, max_length=64)


def _role_out(role: Role) -> dict[str, Any]:
    return {
        "id": role.pk,
        "code": role.code,
        "name": role.display_name,
        "is_system": role.is_system,
        "requires_2fa": role.needs_2fa,
        "permissions": sorted(role.effective_permissions()),
    }


@router.get("/me", response=TokenMeOut, auth=requires(None), summary="The calling token")
def me(request: HttpRequest) -> dict[str, Any]:
    principal = principal_of(request)
    return {
        "operator_id": principal.operator.pk,
        "username": principal.operator.username,
        "token_name": principal.token.name,
        "token_expires_at": principal.token.expires_at,
        "permissions": sorted(principal.permissions),
    }


@router.get("/permissions", response=list[PermissionOut], auth=requires(None))
def list_permissions(request: HttpRequest) -> list[dict[str, str]]:
    return [
        {"code": str(code), "group": str(d.group), "label": str(d.label)}
        for code, d in PERMISSIONS.items()
    ]


@router.get("/roles", response=list[RoleOut], auth=requires(P.ACCOUNTS_VIEW_OPERATORS))
def list_roles(request: HttpRequest) -> list[dict[str, Any]]:
    return [_role_out(role) for role in Role.objects.order_by("-is_system", "id")]


@router.get("/operators", response=list[OperatorOut], auth=requires(P.ACCOUNTS_VIEW_OPERATORS))
@paginate(Pagination)
def list_operators(request: HttpRequest) -> Any:
    return selectors.operators_with_roles()


@router.get(
    "/operators/{operator_id}", response=OperatorOut, auth=requires(P.ACCOUNTS_VIEW_OPERATORS)
)
def get_operator(request: HttpRequest, operator_id: int = ID) -> Operator:
    return get_object_or_404(selectors.operators_with_roles(), pk=operator_id)


@router.post(
    "/operators/{operator_id}/disable",
    response={200: OperatorOut, **errors(409)},
    auth=requires(P.ACCOUNTS_MANAGE_OPERATORS),
)
def disable_operator(request: HttpRequest, payload: DisableIn, operator_id: int = ID) -> Operator:
    operator = get_object_or_404(selectors.operators_with_roles(), pk=operator_id)
    return services.disable_operator(
        operator=operator,
        actor=token_operator(request),
        reason=payload.reason,
    )


@router.post(
    "/operators/{operator_id}/enable",
    response={200: OperatorOut, **errors(409)},
    auth=requires(P.ACCOUNTS_MANAGE_OPERATORS),
)
def enable_operator(request: HttpRequest, operator_id: int = ID) -> Operator:
    operator = get_object_or_404(selectors.operators_with_roles(), pk=operator_id)
    return services.enable_operator(operator=operator, actor=token_operator(request))


@router.get("/audit", response=list[AuditOut], auth=requires(P.AUDIT_VIEW))
@paginate(Pagination)
def list_audit(request: HttpRequest, filters: Query[AuditFilter]) -> Any:
    entries = LogEntry.objects.select_related("actor", "content_type").order_by("-timestamp", "-id")
    if filters.actor:
        entries = entries.filter(actor__username=filters.actor)
    if filters.model:
        app_label, _, model = filters.model.partition(".")
        entries = entries.filter(content_type__app_label=app_label, content_type__model=model)
    if filters.action:
        entries = entries.filter(action=_ACTIONS[filters.action])
    if filters.since:
        entries = entries.filter(timestamp__gte=filters.since)
    if filters.until:
        entries = entries.filter(timestamp__lt=filters.until)
    return entries


@router.get("/settings", response=SettingsOut, auth=requires(P.SYSTEM_MANAGE_SETTINGS))
def get_settings(request: HttpRequest) -> SystemSettings:
    return core_selectors.get_system_settings()


@router.patch("/settings", response=SettingsOut, auth=requires(P.SYSTEM_MANAGE_SETTINGS))
def patch_settings(request: HttpRequest, payload: SettingsPatch) -> SystemSettings:
    changes = payload.dict(exclude_unset=True, exclude_none=True)
    return core_services.update_system_settings(actor=request.auth.operator, **changes)  # type: ignore[attr-defined]
