"""Error pages: JSON in the shared shape under /api/, HTML elsewhere."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext
from django.views import defaults

from miniops.core.responses import error_response, wants_json


def handler400(request: HttpRequest, exception: Any = None) -> HttpResponse:
    if wants_json(request):
        return error_response(400, "malformed_request", "Bad request.")
    return defaults.bad_request(request, exception)


def handler403(request: HttpRequest, exception: Any = None) -> HttpResponse:
    if wants_json(request):
        return error_response(
            403, "permission_denied", gettext("You do not have permission to do this.")
        )
    # With the console's context: its theme colours give the button its colour
    # (Django's bare handler renders it white on transparent).
    from django.template.response import TemplateResponse

    from miniops.core.console import site

    return TemplateResponse(request, "403.html", site.each_context(request), status=403).render()


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
