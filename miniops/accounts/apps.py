from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "miniops.accounts"
    label = "accounts"
    verbose_name = _("Operators and roles")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from miniops.accounts import audit_registry  # noqa: F401

        post_migrate.connect(_sync_roles, sender=self)


def _sync_roles(**kwargs: object) -> None:
    from miniops.accounts.services import ensure_system_roles

    ensure_system_roles()
