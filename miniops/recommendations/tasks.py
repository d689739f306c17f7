"""Recommendation jobs: a full retrain nightly, and a light one every hour so new
co-purchases reach the neighbour lists within the hour (a member's own recent
views move their list at once: they are read at serving time)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from miniops.recommendations import services


@db_periodic_task(crontab(minute="17", hour="3"))
@lock_task("recommendations-train")
def train_nightly() -> None:
    services.train_and_evaluate(actor=None)


@db_periodic_task(crontab(minute="47"))
@lock_task("recommendations-train")
def train_hourly() -> None:
    services.train(actor=None)
