"""Error pages: JSON in the shared shape under /api/, HTML elsewhere."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views import defaults

from miniops.core.responses import error_response, wants_json


def handler400(request: HttpRequest, exception: Any = None) -> HttpResponse:
    if wants_json(request):
        return error_response(400, "malformed_request", "Bad request.")
    return defaults.bad_request(request, exception)


def handler403(request: HttpRequest, exception: Any = None) -> HttpResponse:
    if wants_json(request):
        return error_response(403, "permission_denied", "You do not have permission to do this.")
    return defaults.permission_denied(request, exception)


def handler404(request: HttpRequest, exception: Any = None) -> HttpResponse:
    if wants_json(request):
        return error_response(404, "not_found", "Not found.")
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if wants_json(request):
        return error_response(500, "internal_error", "Something went wrong on our side.")
    return defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if wants_json(request):
        return error_response(403, "csrf_failed", "CSRF verification failed.")
    from django.views.csrf import csrf_failure as default_csrf_failure

    return default_csrf_failure(request, reason)
