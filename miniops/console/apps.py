from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsoleConfig(AppConfig):
    name = "miniops.console"
    label = "console"
    verbose_name = _("Console")

    def ready(self) -> None:
        from miniops.console import field_labels, money_display, realtime, views
        from miniops.core import events
        from miniops.core.console import site

        events.register_notice_publisher(realtime.publish)
        site.password_change_view = views.password_change
        money_display.install()
        field_labels.apply()
