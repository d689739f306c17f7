from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "miniops.accounts"
    label = "accounts"
    verbose_name = _("Operators and roles")

    def ready(self) -> None:
        from miniops.accounts import audit_registry  # noqa: F401
