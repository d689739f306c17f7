"""What every member write shares: limits and platform errors."""

from __future__ import annotations

import logging
import re

from django.utils.translation import gettext as _

from miniops.core.errors import (
    Forbidden,
    InvalidInput,
    ServiceUnavailable,
    Throttled,
)
from miniops.members.providers import (
    BUSY,
    INVALID_CODE,
    RATE_LIMITED,
    RISKY_USER,
    PlatformError,
)

logger = logging.getLogger("miniops.members")

MAX_FAVOURITES = 500
MAX_HISTORY = 200
PHONE_RE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


# --- platform errors ------------------------------------------------------------------
def platform_failure(exc: PlatformError) -> Exception:
    """What a WeChat error means for our caller."""
    if exc.timed_out or exc.errcode in BUSY:
        return ServiceUnavailable(
            _("WeChat is busy; try again in a moment."), code="platform_busy", retry_after=2
        )
    if exc.errcode in INVALID_CODE:
        return InvalidInput(
            _("The login code is invalid or was used already; call wx.login again."),
            code="invalid_code",
            fields={"code": _("invalid or used")},
        )
    if exc.errcode in RATE_LIMITED:
        return Throttled(_("Too many logins right now; retry shortly."), retry_after=60)
    if exc.errcode in RISKY_USER:
        return Forbidden(_("WeChat flagged this account as risky."), code="risky_user")
    logger.error("unexpected WeChat error %s: %s", exc.errcode, exc.errmsg)
    return ServiceUnavailable(_("Sign-in is unavailable; try again later."), code="platform_error")
