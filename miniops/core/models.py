"""Platform-wide settings, edited in the console and served to the mini-program."""

from __future__ import annotations

from django.core.validators import FileExtensionValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

hex_colour = RegexValidator(r"^#[0-9A-Fa-f]{6}$", _("Use a colour like #07C160."))
app_id = RegexValidator(
    r"^wx[0-9a-f]{16}$", _("A mini-program app id looks like wx0123456789abcdef.")
)


def validate_logo_size(file: object) -> None:
    from django.core.exceptions import ValidationError

    size = getattr(file, "size", 0) or 0
    if size > 1024 * 1024:
        raise ValidationError(_("The logo must be at most 1 MB."))


class SystemSettings(models.Model):
    """The one row of platform settings (id is always 1)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    platform_name = models.CharField(_("platform name"), max_length=64, default="miniops")
    logo = models.ImageField(
        _("logo"),
        upload_to="branding/",
        blank=True,
        validators=[FileExtensionValidator(["png", "jpg", "jpeg", "webp"]), validate_logo_size],
    )
    theme_primary = models.CharField(
        _("primary colour"), max_length=7, default="#07C160", validators=[hex_colour]
    )
    theme_secondary = models.CharField(
        _("secondary colour"), max_length=7, default="#FA5151", validators=[hex_colour]
    )
    miniprogram_app_id = models.CharField(
        _("mini-program app id"), max_length=18, blank=True, validators=[app_id]
    )
    cs_phone = models.CharField(_("customer-service phone"), max_length=32, blank=True)
    cs_wechat = models.CharField(_("customer-service WeChat"), max_length=64, blank=True)
    cs_email = models.EmailField(_("customer-service email"), blank=True)
    cs_hours = models.CharField(_("customer-service hours"), max_length=64, blank=True)
    low_stock_threshold = models.PositiveIntegerField(
        _("low-stock threshold"),
        default=10,
        help_text=_("SKUs at or below this stock are flagged on the dashboard."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("system settings")
        verbose_name_plural = _("system settings")
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="system_settings_singleton")
        ]

    def __str__(self) -> str:
        return str(_("System settings"))


def _register_audit() -> None:
    from auditlog.registry import auditlog

    auditlog.register(SystemSettings)


_register_audit()
