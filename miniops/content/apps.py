from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContentConfig(AppConfig):
    name = "miniops.content"
    label = "content"
    verbose_name = _("Content")

    def ready(self) -> None:
        from miniops.content import tasks
        from miniops.content.services import publishing

        publishing.checks_runner = tasks.run_platform_checks
