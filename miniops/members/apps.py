from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "miniops.members"
    label = "members"
    verbose_name = _("Members")

    def ready(self) -> None:
        from miniops.catalog import hooks as catalog_hooks
        from miniops.core.apiauth import register_member_resolver
        from miniops.members import apiauth, audiences
        from miniops.members.services import record_view

        register_member_resolver(apiauth.resolve)
        catalog_hooks.register("viewed", record_view)
        audiences.register()
