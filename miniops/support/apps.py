from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SupportConfig(AppConfig):
    name = "miniops.support"
    label = "support"
    verbose_name = _("Customer service")

    def ready(self) -> None:
        from miniops.support.services.wechat import register_push_handlers

        register_push_handlers()
