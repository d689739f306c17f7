"""Content jobs: run queued platform checks, send images without a verdict in
time to a person, put back checks whose worker died."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, lock_task

from miniops.content.models import PlatformCheck
from miniops.content.services import publishing
from miniops.core import ledger


@db_task()
def run_platform_checks() -> None:
    publishing.process_checks()


@db_periodic_task(crontab(minute="*"))
@lock_task("content-platform-checks")
def platform_checks_periodic() -> None:
    # a check whose worker died may have reached WeChat: ask again (a check is
    # harmless to repeat), then run what is due and expire what waited too long
    ledger.recover_expired(PlatformCheck.objects.all(), retry_safe=True)
    publishing.process_checks(limit=200)
    publishing.expire_media_checks()
