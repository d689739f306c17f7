from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "miniops.core"
    label = "core"
    verbose_name = _("System")

    def ready(self) -> None:
        from miniops.core import checks  # noqa: F401  (registers system checks)
