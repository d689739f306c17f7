from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharingConfig(AppConfig):
    name = "miniops.sharing"
    label = "sharing"
    verbose_name = _("Sharing and referral")

    def ready(self) -> None:
        from miniops.core import events
        from miniops.sharing import targets  # noqa: F401 - registers the built-in targets
        from miniops.sharing.services import hooks

        hooks.register()
        events.register_sink(hooks.on_server_events)
