from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "miniops.notifications"
    label = "notifications"
    verbose_name = _("Push messages")

    def ready(self) -> None:
        from miniops.notifications.services import campaigns
        from miniops.orders import hooks as order_hooks
        from miniops.segments import hooks as segment_hooks

        order_hooks.register("status", campaigns.on_order_status)
        order_hooks.register("refunded", campaigns.on_refunded)
        segment_hooks.register("entered", campaigns.on_segment_entered)
