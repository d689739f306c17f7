"""Every error under /api/ leaves in the shared shape, whoever produced it.

Ninja's handlers shape errors raised inside operations; a few answers come from
elsewhere (an unknown HTTP method, Django's CSRF or host checks). This converts
any non-JSON 4xx/5xx under /api/ to ``{"error": {...}}`` with the same status.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from miniops.core.responses import error_response, language_for

_CODES = {
    400: "malformed_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "throttled",
}
_MESSAGES = {
    405: _("This method is not allowed here."),
    413: _("The request body is too large."),
}


class ApiErrorShapeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
            and not request.path.startswith("/api/v1/docs")
        ):
            status = response.status_code
            # this layer sits outside LocaleMiddleware: it picks the language itself
            with translation.override(language_for(request.headers.get("Accept-Language"))):
                message = str(_MESSAGES.get(status, response.reason_phrase))
            shaped = error_response(
                status,
                _CODES.get(status, "internal_error" if status >= 500 else "error"),
                message,
            )
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    shaped[header] = response[header]
            return shaped
        return response
