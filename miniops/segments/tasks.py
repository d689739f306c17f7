"""Huey jobs of segments: the scheduler's tick."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from miniops.segments import services


@db_periodic_task(crontab(minute="*"))
@lock_task("segments-recompute")
def recompute_segments() -> None:
    """Every minute: dynamic segments whose inputs changed (orders, tags, level)
    or older than their ``refresh_minutes``, oldest first, for at most ~50 s."""
    services.recompute_due()
