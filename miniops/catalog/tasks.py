from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from miniops.catalog import services


@db_periodic_task(crontab(minute="*"))
@lock_task("catalog-schedules")
def apply_product_schedules() -> None:
    """Scheduled on-sale / off-shelf times take effect within a minute."""
    services.apply_schedules()
