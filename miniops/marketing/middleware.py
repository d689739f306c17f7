"""Sold-out flash purchases answered before URL routing and the API framework.

In a flash sale almost every request after the first seconds is a retry for an
item that is gone. This middleware sits last in the stack (after the session,
locale and security middleware) and answers those with the same 409 ``sold_out``
the API would give, after one read-only Redis call (``flash.sold_out_early``).
Everything else — and anything it is not sure of — goes on to the API as usual.
Early answers are not counted against the client's rate limit: they cost less
than the throttle itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from miniops.core.redis import get_redis
from miniops.core.responses import error_response
from miniops.marketing.services import flash

MAX_BODY = 1024
_BUY = re.compile(r"^/api/v1/flash-sales/items/([1-9][0-9]{0,17})/buy$")


class FlashSoldOutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and get_redis() is not None:
            match = _BUY.match(request.path_info)
            if (
                match
                and _small(request)
                and flash.sold_out_early(
                    int(match.group(1)),
                    authorization=request.headers.get("Authorization", ""),
                    key=request.headers.get("Idempotency-Key", ""),
                    body=request.body,
                )
            ):
                return error_response(409, "sold_out", _("Sold out."))
        return self.get_response(request)


def _small(request: HttpRequest) -> bool:
    """A purchase body is a few dozen bytes: anything declared larger (or not
    declared) is left to the API, which reads and refuses it properly."""
    try:
        return 0 < int(request.META.get("CONTENT_LENGTH") or 0) <= MAX_BODY
    except ValueError:
        return False
