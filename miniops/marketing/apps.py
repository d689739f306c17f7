from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketingConfig(AppConfig):
    name = "miniops.marketing"
    label = "marketing"
    verbose_name = _("Marketing")

    def ready(self) -> None:
        from miniops.catalog.selectors import register_price_overlay
        from miniops.marketing import pricing
        from miniops.marketing.selectors import price_overlay
        from miniops.marketing.services import order_hooks

        pricing.register()
        order_hooks.register()
        register_price_overlay(price_overlay)
        from miniops.core import events
        from miniops.marketing.services.server_events import on_server_events

        events.register_sink(on_server_events)
