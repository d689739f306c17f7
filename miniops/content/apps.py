from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContentConfig(AppConfig):
    name = "miniops.content"
    label = "content"
    verbose_name = _("Content")

    def ready(self) -> None:
        from miniops.content import tasks
        from miniops.content.services import publishing

        publishing.checks_runner = tasks.run_platform_checks

        from django.db import transaction
        from django.db.models.signals import post_delete, post_save

        from miniops.content.models import Topic
        from miniops.content.services.common import forget_topics

        def topics_changed(**_kwargs: object) -> None:
            # the cached topic list the publish path checks against
            transaction.on_commit(forget_topics)

        post_save.connect(topics_changed, sender=Topic, weak=False, dispatch_uid="content-topics")
        post_delete.connect(
            topics_changed, sender=Topic, weak=False, dispatch_uid="content-topics-d"
        )
