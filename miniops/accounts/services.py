"""Every write about operators, roles, sessions, two-factor devices and API tokens.

Rules enforced here, whoever calls (console, management API, CLI):
* nobody grants a role holding permissions they do not hold themselves, and
  nobody manages an operator who holds permissions they do not hold;
* nobody disables or demotes themselves, and the last active super admin stays;
* disabling an operator, resetting their two-factor device or changing their
  password ends their console sessions (their API tokens stop working because
  every token check re-reads the owner).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from miniops.accounts.models import ApiToken, Operator, OperatorSession, Role
from miniops.core import audit
from miniops.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from miniops.core.netutils import client_ip
from miniops.core.permissions import P, R, is_known

MAX_TOKEN_DAYS = 366
TOKEN_PATTERN = re.compile(r"^mo_([a-z0-9]{10})_([A-Za-z0-9_-]{43})$")


# --- guards ---------------------------------------------------------------------------
def _check_grantable(actor: Operator | None, roles: Iterable[Role]) -> None:
    if actor is None:  # the CLI and data migrations act as the system
        return
    for role in roles:
        if role.code == R.SUPER_ADMIN and not actor.is_super_admin:
            raise Forbidden(_("Only a super admin can grant the super admin role."))
        if not role.effective_permissions() <= actor.permissions:
            raise Forbidden(
                _("You cannot grant the role “%(role)s”: it holds permissions you do not have.")
                % {"role": role.display_name}
            )


def _check_manageable(actor: Operator | None, operator: Operator) -> None:
    if actor is None:
        return
    if not actor.has_permission(P.ACCOUNTS_MANAGE_OPERATORS):
        raise Forbidden()
    if operator.is_super_admin and not actor.is_super_admin:
        raise Forbidden(_("Only a super admin can change a super admin."))
    held: set[str] = set()
    for role in operator.roles.all():
        held |= role.effective_permissions()
    if not held <= actor.permissions:
        raise Forbidden(_("This operator holds permissions you do not have."))


def _active_super_admins() -> Any:
    return Operator.objects.filter(is_active=True, roles__code=R.SUPER_ADMIN).distinct()


def _password_errors(password: str, operator: Operator) -> None:
    try:
        validate_password(password, operator)
    except ValidationError as exc:
        raise InvalidInput(fields={"password": " ".join(exc.messages)}) from exc


# --- operators ------------------------------------------------------------------------
@transaction.atomic
def create_operator(
    *,
    username: str,
    password: str,
    roles: Iterable[Role],
    actor: Operator | None,
    display_name: str = "",
    email: str = "",
    language: str = "",
) -> Operator:
    roles = list(roles)
    if actor is not None and not actor.has_permission(P.ACCOUNTS_MANAGE_OPERATORS):
        raise Forbidden()
    username = Operator.normalize_username(username.strip())
    if not username:
        raise InvalidInput(fields={"username": _("This field is required.")})
    _check_grantable(actor, roles)
    operator = Operator(
        username=username, display_name=display_name, email=email, language=language
    )
    try:
        # Field validation first: it refuses NUL and other bad characters before
        # any query uses the value.
        operator.full_clean(exclude=["password"], validate_unique=False)
    except ValidationError as exc:
        raise InvalidInput(fields={k: " ".join(v) for k, v in exc.message_dict.items()}) from exc
    if Operator.objects.filter(username__iexact=username).exists():
        raise Conflict(
            _("That username is taken."), fields={"username": _("That username is taken.")}
        )
    _password_errors(password, operator)
    operator.set_password(password)
    with audit.acting_as(actor):
        operator.save()
        operator.roles.set(roles)
    return operator


@transaction.atomic
def set_operator_roles(
    *, operator: Operator, roles: Iterable[Role], actor: Operator | None
) -> None:
    roles = list(roles)
    _check_manageable(actor, operator)
    _check_grantable(actor, roles)
    if actor is not None and actor.pk == operator.pk:
        raise Conflict(_("You cannot change your own roles."))
    losing_super = operator.is_super_admin and all(r.code != R.SUPER_ADMIN for r in roles)
    if losing_super and not _active_super_admins().exclude(pk=operator.pk).exists():
        raise Conflict(_("At least one active super admin must remain."))
    with audit.acting_as(actor):
        operator.roles.set(roles)
    operator.refresh_permissions()
    # New rights take effect on the next request; lost rights too, since every
    # request re-reads roles. A lost sensitive role may change 2FA needs: end sessions.
    end_all_sessions(operator, reason="roles_changed")


@transaction.atomic
def disable_operator(*, operator: Operator, actor: Operator | None, reason: str = "") -> Operator:
    if actor is not None and actor.pk == operator.pk:
        raise Conflict(_("You cannot disable yourself."))
    _check_manageable(actor, operator)
    if not operator.is_active:
        raise Conflict(_("This operator is already disabled."), code="illegal_transition")
    if operator.is_super_admin and not _active_super_admins().exclude(pk=operator.pk).exists():
        raise Conflict(_("At least one active super admin must remain."))
    operator.is_active = False
    operator.disabled_at = timezone.now()
    with audit.acting_as(actor):
        operator.save(update_fields=["is_active", "disabled_at"])
    if reason:
        audit.record(
            actor=actor,
            action=audit.Action.UPDATE,
            instance=operator,
            changes={"disabled_reason": [None, reason[:255]]},
        )
    end_all_sessions(operator, reason="disabled")
    return operator


@transaction.atomic
def enable_operator(*, operator: Operator, actor: Operator | None) -> Operator:
    _check_manageable(actor, operator)
    if operator.is_active:
        raise Conflict(_("This operator is already active."), code="illegal_transition")
    operator.is_active = True
    operator.disabled_at = None
    with audit.acting_as(actor):
        operator.save(update_fields=["is_active", "disabled_at"])
    return operator


@transaction.atomic
def change_password(
    *, operator: Operator, password: str, actor: Operator | None, keep_session: str | None = None
) -> None:
    """Set a new password and end the operator's other sessions."""
    if actor is not None and actor.pk != operator.pk:
        _check_manageable(actor, operator)
    _password_errors(password, operator)
    operator.set_password(password)
    operator.save(update_fields=["password"])
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        instance=operator,
        changes={"password": ["***", "***"]},
    )
    end_all_sessions(operator, reason="password_changed", except_key=keep_session)


@transaction.atomic
def reset_two_factor(*, operator: Operator, actor: Operator | None) -> int:
    """Remove the operator's TOTP devices; they enrol again at next sign-in."""
    if actor is not None and actor.pk != operator.pk:
        _check_manageable(actor, operator)
    devices = list(TOTPDevice.objects.filter(user=operator))
    with audit.acting_as(actor):
        for device in devices:
            device.delete()
    operator.refresh_permissions()
    end_all_sessions(operator, reason="2fa_reset")
    return len(devices)


# --- console sessions -------------------------------------------------------------------
def _session_store() -> Any:
    return import_module(settings.SESSION_ENGINE).SessionStore


def session_started(request: HttpRequest) -> None:
    operator = request.user
    if not isinstance(operator, Operator):
        return
    key = request.session.session_key
    if not key:
        request.session.save()
        key = request.session.session_key
    OperatorSession.objects.update_or_create(
        session_key=key,
        defaults={
            "operator": operator,
            "ip": client_ip(request),
            "user_agent": request.headers.get("User-Agent", "")[:255],
            "last_seen_at": timezone.now(),
            "ended_at": None,
            "end_reason": "",
        },
    )


def session_seen(request: HttpRequest) -> None:
    key = request.session.session_key
    if key:
        OperatorSession.objects.filter(session_key=key, ended_at__isnull=True).update(
            last_seen_at=timezone.now()
        )


def end_current_session(request: HttpRequest, reason: str = "logout") -> None:
    key = request.session.session_key
    if key:
        OperatorSession.objects.filter(session_key=key, ended_at__isnull=True).update(
            ended_at=timezone.now(), end_reason=reason
        )


def end_all_sessions(operator: Operator, *, reason: str, except_key: str | None = None) -> int:
    """Delete the operator's sessions from the session store: they are signed out
    on their next request, wherever they are."""
    store = _session_store()
    open_sessions = OperatorSession.objects.filter(operator=operator, ended_at__isnull=True)
    if except_key:
        open_sessions = open_sessions.exclude(session_key=except_key)
    keys = list(open_sessions.values_list("session_key", flat=True))
    for key in keys:
        store(session_key=key).delete()
    open_sessions.update(ended_at=timezone.now(), end_reason=reason)
    return len(keys)


# --- roles ------------------------------------------------------------------------------
def ensure_system_roles() -> int:
    """Create any built-in role missing from the database (runs after every
    migrate, so a role added to ``ROLES`` needs no data migration)."""
    from django.utils.translation import override

    from miniops.core.permissions import ROLES

    created = 0
    with override("en"):
        for code, definition in ROLES.items():
            _, was_created = Role.objects.get_or_create(
                code=str(code),
                defaults={
                    "name": str(definition.name),
                    "description": str(definition.description),
                    "is_system": True,
                    "requires_2fa": definition.requires_2fa,
                },
            )
            created += int(was_created)
    return created


def _clean_permissions(codes: Iterable[str]) -> list[str]:
    codes = list(dict.fromkeys(codes))
    unknown = [code for code in codes if not is_known(code)]
    if unknown:
        raise InvalidInput(
            fields={"permissions": _("Unknown permissions: %s") % ", ".join(unknown)}
        )
    return sorted(codes)


def _require_role_manager(actor: Operator | None) -> None:
    if actor is not None and not actor.has_permission(P.ACCOUNTS_MANAGE_ROLES):
        raise Forbidden()


@transaction.atomic
def create_role(
    *,
    code: str,
    name: str,
    permissions: Iterable[str],
    actor: Operator | None,
    description: str = "",
    requires_2fa: bool = False,
) -> Role:
    _require_role_manager(actor)
    if Role.objects.filter(code=code).exists():
        raise Conflict(fields={"code": _("A role with this code exists.")})
    role = Role(
        code=code,
        name=name,
        description=description,
        requires_2fa=requires_2fa,
        permissions=_clean_permissions(permissions),
    )
    try:
        role.full_clean()
    except ValidationError as exc:
        raise InvalidInput(fields={k: " ".join(v) for k, v in exc.message_dict.items()}) from exc
    with audit.acting_as(actor):
        role.save()
    return role


@transaction.atomic
def update_role(*, role: Role, actor: Operator | None, **changes: Any) -> Role:
    """Custom roles: any field but the code. Built-in roles: only the 2FA flag
    (their permissions live in ``miniops.core.permissions``); super admin: nothing."""
    _require_role_manager(actor)
    allowed = (
        {"requires_2fa"}
        if role.is_system
        else {"name", "description", "requires_2fa", "permissions"}
    )
    if role.code == R.SUPER_ADMIN:
        allowed = set()
    refused = set(changes) - allowed
    if refused:
        raise Conflict(
            _("These fields cannot be changed on this role: %s") % ", ".join(sorted(refused))
        )
    if "permissions" in changes:
        changes["permissions"] = _clean_permissions(changes["permissions"])
    for name, value in changes.items():
        setattr(role, name, value)
    with audit.acting_as(actor):
        role.save()
    return role


@transaction.atomic
def delete_role(*, role: Role, actor: Operator | None) -> None:
    _require_role_manager(actor)
    if role.is_system:
        raise Conflict(_("Built-in roles cannot be deleted."))
    if role.operators.exists():
        raise Conflict(_("Remove this role from its operators first."))
    with audit.acting_as(actor):
        role.delete()


# --- management API tokens -----------------------------------------------------------------
def _hash_secret(secret: str) -> str:
    # Tokens carry 256 random bits: a fast keyed hash is enough (no dictionary to attack).
    return hmac.new(settings.SECRET_KEY.encode(), secret.encode(), hashlib.sha256).hexdigest()


@transaction.atomic
def create_api_token(
    *,
    operator: Operator,
    name: str,
    permissions: Iterable[str],
    expires_in_days: int,
    actor: Operator | None,
) -> tuple[ApiToken, str]:
    """Create a token scoped to ``permissions`` (a subset of the owner's) and return
    it with the only copy of its secret."""
    if actor is not None and actor.pk != operator.pk:
        raise Forbidden(_("Operators create tokens for themselves only."))
    if not operator.is_active or not operator.has_permission(P.API_TOKENS_USE):
        raise Forbidden()
    name = name.strip()
    if not name or len(name) > 64:
        raise InvalidInput(fields={"name": _("Give the token a name of 1 to 64 characters.")})
    if isinstance(expires_in_days, bool) or not 1 <= int(expires_in_days) <= MAX_TOKEN_DAYS:
        raise InvalidInput(fields={"expires_in_days": _("Between 1 and %d days.") % MAX_TOKEN_DAYS})
    scope = _clean_permissions(permissions)
    if not scope:
        raise InvalidInput(fields={"permissions": _("Choose at least one permission.")})
    beyond = [code for code in scope if not operator.has_permission(code)]
    if beyond:
        raise Forbidden(
            _("A token cannot hold permissions its owner lacks: %s") % ", ".join(beyond),
            fields={"permissions": ", ".join(beyond)},
        )
    prefix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(10))
    secret = secrets.token_urlsafe(32)
    token = ApiToken(
        operator=operator,
        name=name,
        prefix=prefix,
        secret_hash=_hash_secret(secret),
        permissions=scope,
        expires_at=timezone.now() + timedelta(days=int(expires_in_days)),
    )
    with audit.acting_as(actor or operator):
        token.save()
    return token, f"mo_{prefix}_{secret}"


@transaction.atomic
def revoke_api_token(*, token: ApiToken, actor: Operator | None) -> ApiToken:
    if (
        actor is not None
        and actor.pk != token.operator_id
        and not actor.has_permission(P.ACCOUNTS_MANAGE_OPERATORS)
    ):
        raise Forbidden()
    if token.revoked_at is not None:
        raise Conflict(_("This token is already revoked."), code="illegal_transition")
    token.revoked_at = timezone.now()
    token.revoked_by = actor
    with audit.acting_as(actor):
        token.save(update_fields=["revoked_at", "revoked_by"])
    return token


@dataclass(frozen=True)
class TokenPrincipal:
    """``request.auth`` for management API calls."""

    access = "operator"
    token: ApiToken
    operator: Operator
    permissions: frozenset[str]

    @property
    def throttle_key(self) -> str:
        return f"token:{self.token.pk}"

    def has(self, code: str) -> bool:
        return code in self.permissions


def authenticate_api_token(raw: str, *, ip: str | None) -> TokenPrincipal | None:
    """Resolve a bearer token, or ``None`` if it is malformed, unknown, revoked,
    expired, or its owner is disabled. The scope is re-intersected with the
    owner's current permissions on every call."""
    match = TOKEN_PATTERN.match(raw or "")
    if not match:
        return None
    prefix, secret = match.groups()
    try:
        token = ApiToken.objects.select_related("operator").get(prefix=prefix)
    except ApiToken.DoesNotExist:
        return None
    if not hmac.compare_digest(token.secret_hash, _hash_secret(secret)):
        return None
    now = timezone.now()
    operator = token.operator
    if not token.is_usable(now) or not operator.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
    scope = frozenset(token.permissions) & operator.permissions
    return TokenPrincipal(token=token, operator=operator, permissions=scope)


# --- two-factor (TOTP) ----------------------------------------------------------------------
def start_totp_enrolment(operator: Operator) -> TOTPDevice:
    """The operator's pending (unconfirmed) device, created on first call."""
    device = TOTPDevice.objects.filter(user=operator, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=operator, name="authenticator", confirmed=False)
    return device


@transaction.atomic
def confirm_totp_enrolment(*, operator: Operator, device: TOTPDevice, token: str) -> bool:
    if device.user_id != operator.pk:
        raise NotFound()
    if not device.verify_token(token):
        return False
    device.confirmed = True
    with audit.acting_as(operator):
        device.save()
        # One confirmed device per operator: drop older ones.
        for old in TOTPDevice.objects.filter(user=operator).exclude(pk=device.pk):
            old.delete()
    operator.refresh_permissions()
    return True


def verify_totp(*, operator: Operator, token: str) -> TOTPDevice | None:
    for device in TOTPDevice.objects.filter(user=operator, confirmed=True):
        if device.verify_token(token):
            return device
    return None
