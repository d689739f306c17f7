"""Request-wide guards that run before any view."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.translation import gettext as _

from miniops.core.logging import request_id_var
from miniops.core.responses import error_response, wants_json

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Tag each request with an id (kept from ``X-Request-ID`` when well-formed)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


def _has_bad_chars(value: str) -> bool:
    if "\x00" in value:
        return True
    # Lone surrogates cannot be encoded to UTF-8 and break every database driver.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class RejectMalformedInputMiddleware:
    """Refuse NUL bytes and unencodable text in the path and query string.

    Bodies are checked by the API parser (``miniops.core.api_errors``) and by
    Django's form fields (``ProhibitNullCharactersValidator``).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        bad = _has_bad_chars(request.path) or any(
            _has_bad_chars(key) or any(_has_bad_chars(v) for v in values)
            for key, values in request.GET.lists()
        )
        if bad:
            message = _("The URL contains characters that are not allowed.")
            if wants_json(request):
                return error_response(400, "malformed_request", message)
            return HttpResponseBadRequest(message)
        return self.get_response(request)
