from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "miniops.accounts"
    label = "accounts"
    verbose_name = _("Operators and roles")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from miniops.accounts import audit_registry  # noqa: F401
        from miniops.accounts.services import end_current_session
        from miniops.core.console import site

        post_migrate.connect(_sync_roles, sender=self)
        if end_current_session not in site.logout_hooks:
            site.logout_hooks.append(end_current_session)


def _sync_roles(**kwargs: object) -> None:
    from miniops.accounts.services import ensure_system_roles

    ensure_system_roles()
