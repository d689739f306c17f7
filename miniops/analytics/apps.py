from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "miniops.analytics"
    label = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        from miniops.analytics import services
        from miniops.core import events

        events.register_sink(services.store_server_events)
