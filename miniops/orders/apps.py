from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "miniops.orders"
    label = "orders"
    verbose_name = _("Orders")

    def ready(self) -> None:
        from miniops.orders import (
            freight,  # noqa: F401  (cache signals, the shipping step)
            tasks,  # noqa: F401  (listens to the order hooks)
        )
