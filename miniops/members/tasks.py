from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from miniops.members import services


@db_periodic_task(crontab(minute="17", hour="3"))
@lock_task("members-prune-history")
def prune_browsing_history() -> None:
    """Keep each member's 200 most recent product views."""
    services.prune_history()
