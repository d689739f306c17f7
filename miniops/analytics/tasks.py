"""Analytics jobs: rollups and the lake export every minute, alert rules every
minute."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from miniops.analytics import alerts, lake, rollups


@db_periodic_task(crontab(minute="*"))
@lock_task("analytics-rollups")
def refresh_rollups() -> None:
    """Rebuild the days marked dirty (and today, yesterday), then append new
    events to the lake."""
    rollups.run()
    lake.export()


@db_periodic_task(crontab(minute="*"))
@lock_task("analytics-alerts")
def evaluate_alerts() -> None:
    alerts.evaluate()
