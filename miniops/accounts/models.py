"""Operators (console users), their roles, sessions and management API tokens."""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from miniops.core.permissions import ROLES, R, is_known


class Role(models.Model):
    """A named set of permissions.

    Built-in roles (``is_system``) take their permissions from
    ``miniops.core.permissions.ROLES``, so a permission added there reaches them
    without a migration. Custom roles, created by super admins in the console,
    store their permission codes here.
    """

    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=64)
    description = models.CharField(_("description"), max_length=255, blank=True)
    is_system = models.BooleanField(_("built-in"), default=False, editable=False)
    requires_2fa = models.BooleanField(
        _("sensitive (requires two-factor)"),
        default=False,
        help_text=_("Operators holding a sensitive role must sign in with a TOTP code."),
    )
    permissions = models.JSONField(_("permissions"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        ordering = ["-is_system", "id"]

    def __str__(self) -> str:
        return str(self.display_name)

    @property
    def display_name(self) -> str:
        if self.is_system and self.code in ROLES:
            return str(ROLES[R(self.code)].name)
        return self.name

    @property
    def needs_2fa(self) -> bool:
        return self.requires_2fa or self.code == R.SUPER_ADMIN

    def effective_permissions(self) -> frozenset[str]:
        if self.is_system:
            definition = ROLES.get(R(self.code)) if self.code in ROLES else None
            return frozenset(definition.permissions) if definition else frozenset()
        return frozenset(code for code in self.permissions if is_known(code))


class OperatorManager(BaseUserManager["Operator"]):
    use_in_migrations = True

    def create_user(self, username: str, password: str | None = None, **extra: object) -> Operator:
        if not username:
            raise ValueError("username is required")
        operator = self.model(username=self.model.normalize_username(username), **extra)
        operator.set_password(password)
        operator.save(using=self._db)
        return operator

    def create_superuser(
        self, username: str, password: str | None = None, **extra: object
    ) -> Operator:
        operator = self.create_user(username, password, **extra)
        operator.roles.add(Role.objects.get(code=R.SUPER_ADMIN))
        return operator


class Operator(AbstractBaseUser):
    """A member of the company's staff who signs in to the console."""

    is_operator = True

    username = models.CharField(
        _("username"),
        max_length=64,
        unique=True,
        validators=[UnicodeUsernameValidator()],
        help_text=_("Letters, digits and @/./+/-/_ only."),
    )
    display_name = models.CharField(_("display name"), max_length=64, blank=True)
    email = models.EmailField(_("email"), blank=True)
    roles = models.ManyToManyField(
        Role, related_name="operators", blank=True, verbose_name=_("roles")
    )
    is_active = models.BooleanField(_("active"), default=True)
    language = models.CharField(
        _("console language"), max_length=10, choices=settings.LANGUAGES, blank=True
    )
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)

    objects = OperatorManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("operator")
        verbose_name_plural = _("operators")
        ordering = ["username"]

    def __str__(self) -> str:
        return self.display_name or self.username

    def get_full_name(self) -> str:
        return self.display_name or self.username

    def get_short_name(self) -> str:
        return self.display_name or self.username

    # Django admin reads these; our own checks go through has_permission().
    @property
    def is_staff(self) -> bool:
        return self.is_active

    @property
    def is_superuser(self) -> bool:
        return False

    @cached_property
    def permissions(self) -> frozenset[str]:
        if not self.is_active or self.pk is None:
            return frozenset()
        codes: set[str] = set()
        for role in self.roles.all():
            codes |= role.effective_permissions()
        return frozenset(codes)

    @cached_property
    def role_codes(self) -> frozenset[str]:
        return frozenset(role.code for role in self.roles.all()) if self.pk else frozenset()

    def refresh_permissions(self) -> None:
        for name in ("permissions", "role_codes", "requires_2fa", "has_totp_device"):
            self.__dict__.pop(name, None)

    def has_permission(self, code: str) -> bool:
        return code in self.permissions

    # Django's permission protocol, answered from the same table.
    def has_perm(self, perm: str, obj: object = None) -> bool:
        return self.has_permission(perm)

    def has_perms(self, perm_list: object, obj: object = None) -> bool:
        return all(self.has_permission(p) for p in perm_list)  # type: ignore[attr-defined]

    def has_module_perms(self, app_label: str) -> bool:
        return any(code.startswith(f"{app_label}.") for code in self.permissions)

    @cached_property
    def has_totp_device(self) -> bool:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        return TOTPDevice.objects.filter(user=self, confirmed=True).exists()

    @cached_property
    def requires_2fa(self) -> bool:
        """Sensitive roles always need TOTP; so does anyone who enrolled a device."""
        if any(role.needs_2fa for role in self.roles.all()):
            return True
        return self.has_totp_device

    @property
    def is_super_admin(self) -> bool:
        return R.SUPER_ADMIN in self.role_codes


class OperatorSession(models.Model):
    """A console session, so that disabling an operator can end every one of them
    and an operator can see where they are signed in."""

    operator = models.ForeignKey(Operator, on_delete=models.CASCADE, related_name="sessions")
    session_key = models.CharField(max_length=64, unique=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("browser"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("signed in"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("last seen"), default=timezone.now)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    end_reason = models.CharField(_("end reason"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("console session")
        verbose_name_plural = _("console sessions")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["operator", "ended_at"])]

    def __str__(self) -> str:
        return f"{self.operator} @ {self.ip or '?'}"


class ApiToken(models.Model):
    """A management API token. Only a hash of the secret is stored; the token is
    shown once, at creation. Its scope is a subset of the owner's permissions,
    checked again on every call (a token never outlives its owner's rights)."""

    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, related_name="api_tokens", verbose_name=_("owner")
    )
    name = models.CharField(_("name"), max_length=64)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    permissions = models.JSONField(_("permissions"), default=list)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        Operator, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(_("last used from"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (mo_{self.prefix}_…)"

    def is_usable(self, at: object = None) -> bool:
        moment = at or timezone.now()
        return self.revoked_at is None and self.expires_at > moment  # type: ignore[operator]

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"
