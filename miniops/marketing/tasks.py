"""Marketing jobs: group deadlines every minute; coupon and points expiry, level
evaluation and birthday coupons daily."""

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from miniops.marketing.services import coupons, groups, points

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
@lock_task("marketing-groups")
def expire_groups() -> None:
    """Groups past their time fail and their paid members are refunded."""
    groups.expire_groups()
    groups.retry_failed_refunds()


@db_periodic_task(crontab(minute="5"))
@lock_task("marketing-coupon-expiry")
def expire_coupons() -> None:
    coupons.expire_coupons()


@db_periodic_task(crontab(hour="2", minute="10"))
@lock_task("marketing-daily")
def daily() -> None:
    """Points expiry, level evaluation, birthday coupons (after midnight), and a
    check that every cached points balance equals its ledger (drift is logged as
    an error for the operators; ``manage.py points_check --fix`` corrects it)."""
    points.expire_points()
    points.evaluate_levels()
    coupons.birthday_coupons()
    drift = points.check_balances()
    if drift:
        logger.error("points balances differ from the ledger: %s", drift[:20])
