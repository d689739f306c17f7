from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "miniops.core"
    label = "core"
    verbose_name = _("System")

    def ready(self) -> None:
        from auditlog.models import LogEntry
        from django.db.models.signals import pre_save

        from miniops.core import checks  # noqa: F401  (registers system checks)
        from miniops.core.audit import fill_log_entry

        pre_save.connect(fill_log_entry, sender=LogEntry, dispatch_uid="miniops-audit-context")
