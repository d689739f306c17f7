"""Push jobs: the minute tick (scheduled and recurring campaigns, trigger scans),
sending due deliveries, and recovering the rows of a worker that died."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from miniops.notifications.services import campaigns, sending


@db_periodic_task(crontab(minute="*"))
@lock_task("notifications-tick")
def campaign_tick() -> None:
    campaigns.tick()


@db_periodic_task(crontab(minute="*"))
def send_due_deliveries() -> None:
    """Up to ~50 s of sending per minute; several workers may run it at once
    (rows are claimed, never shared)."""
    import time

    deadline = time.monotonic() + 50
    while time.monotonic() < deadline:
        if not sending.send_due(limit=200).claimed:
            break


@db_periodic_task(crontab(minute="*/2"))
@lock_task("notifications-recover")
def recover_deliveries() -> None:
    sending.recover()
