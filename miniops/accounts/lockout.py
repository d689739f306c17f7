"""Console sign-in lockout: django-axes with two limits.

* ``MINIOPS_LOCKOUT_FAILURES`` failures for one account from one address lock
  that account there (axes' own rule, ``AXES_LOCKOUT_PARAMETERS``);
* ``MINIOPS_LOCKOUT_IP_FAILURES`` failures from one address over all usernames
  lock the address: one password tried against many accounts (spraying) is stopped
  even though no single account reaches its limit.

Both last ``MINIOPS_LOCKOUT_MINUTES`` after the latest failure. A successful
sign-in clears only that account's failures from that address, so an attacker who
holds one valid account cannot reset the address's count by signing in with it.
"""

from __future__ import annotations

from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import QuerySet, Sum
from django.http import HttpRequest
from django.utils import timezone


def _recent(request: HttpRequest | None = None) -> QuerySet[AccessAttempt]:
    attempts = AccessAttempt.objects.all()
    if settings.AXES_COOLOFF_TIME is None:
        return attempts
    threshold = (
        get_cool_off_threshold(request)
        if request is not None
        else timezone.now() - settings.AXES_COOLOFF_TIME
    )
    return attempts.filter(attempt_time__gte=threshold)


def address_failures(ip_address: str | None, request: HttpRequest | None = None) -> int:
    """Recent failed sign-ins from ``ip_address``, whatever the username."""
    if not ip_address:
        return 0
    total = (
        _recent(request)
        .filter(ip_address=ip_address)
        .aggregate(total=Sum("failures_since_start"))["total"]
    )
    return int(total or 0)


def locked_addresses() -> int:
    """How many addresses are locked out now (the console's "Team" card)."""
    return (
        _recent()
        .values("ip_address")
        .annotate(total=Sum("failures_since_start"))
        .filter(total__gte=settings.MINIOPS_LOCKOUT_IP_FAILURES)
        .count()
    )


class ConsoleLockoutHandler(AxesDatabaseHandler):
    """``AXES_HANDLER``: axes' database handler, with the per-address limit."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        account = int(super().get_failures(request, credentials))
        ip_address = getattr(request, "axes_ip_address", None)
        if address_failures(ip_address, request) >= settings.MINIOPS_LOCKOUT_IP_FAILURES:
            # axes compares one number with one limit: report the account as at its
            # limit, so the address is refused for every username
            return max(account, int(get_failure_limit(request, credentials)))
        return account
