"""Sharing jobs: frozen rewards whose day came are paid, every five minutes."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from miniops.sharing.services import attribution


@db_periodic_task(crontab(minute="*/5"))
@lock_task("sharing-rewards")
def release_rewards() -> None:
    attribution.release_due()
