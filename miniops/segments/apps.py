from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SegmentsConfig(AppConfig):
    name = "miniops.segments"
    label = "segments"
    verbose_name = _("Segments")

    def ready(self) -> None:
        from django.db import transaction
        from django.db.models.signals import m2m_changed, post_save

        from miniops.marketing.models import LevelChange
        from miniops.members import hooks as member_hooks
        from miniops.members.models import Member
        from miniops.orders import hooks as order_hooks
        from miniops.segments import audiences, services

        def later(inputs: str) -> None:
            transaction.on_commit(lambda: services.mark_dirty(inputs))

        def on_order(**_kwargs: Any) -> None:
            later("orders")

        for event in ("placed", "status", "refunded", "released"):
            order_hooks.register(event, on_order)

        def on_tags(**_kwargs: Any) -> None:
            later("tags")

        member_hooks.register("tags_changed", on_tags)
        m2m_changed.connect(
            on_tags, sender=Member.tags.through, weak=False, dispatch_uid="segments-tags"
        )

        def on_level(**_kwargs: Any) -> None:
            later("level")

        post_save.connect(on_level, sender=LevelChange, weak=False, dispatch_uid="segments-level")
        audiences.register()
