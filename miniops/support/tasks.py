"""Customer-service jobs: SLA evaluation and the assignment sweep, every minute."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from miniops.support import services


@db_periodic_task(crontab(minute="*"))
@lock_task("support-sla")
def evaluate_slas() -> None:
    services.evaluate_slas()


@db_periodic_task(crontab(minute="*"))
@lock_task("support-assign")
def assign_waiting() -> None:
    """Catch what no event assigned (an agent's capacity raised in the console)."""
    services.assign_waiting()
