"""Counts API server errors per minute for the real-time monitor and alerts."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from miniops.analytics import realtime

logger = logging.getLogger("miniops.analytics")


class ServerErrorCounter:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code >= 500 and request.path.startswith("/api/"):
            try:
                realtime.record("api_5xx")
            except Exception:  # counting must never turn one error into another
                logger.exception("could not count a server error")
        return response
