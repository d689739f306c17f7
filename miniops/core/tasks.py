"""Platform jobs: the worker heartbeat (shown on /readyz and the health page)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from miniops.core import services


@db_periodic_task(crontab(minute="*"))
def heartbeat() -> None:
    services.record_worker_heartbeat()


@db_task()
def heartbeat_now() -> None:
    """Queued on demand (health page, tests) to prove a worker is consuming."""
    services.record_worker_heartbeat()
