from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "miniops.notifications"
    label = "notifications"
    verbose_name = _("Push messages")

    def ready(self) -> None:
        from miniops.notifications.services import campaigns
        from miniops.orders import hooks as order_hooks

        order_hooks.register("status", campaigns.on_order_status)
        order_hooks.register("refunded", campaigns.on_refunded)
        import importlib

        try:
            segment_hooks = importlib.import_module("miniops.segments.hooks")
        except ImportError:  # the segments app has not landed its hooks yet
            return
        segment_hooks.register("entered", campaigns.on_segment_entered)
