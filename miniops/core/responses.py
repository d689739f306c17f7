"""The shared error shape, for every caller that answers JSON errors."""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import trans_real


def error_body(code: str, message: Any, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": str(message), "fields": fields or {}}}


def error_response(
    status: int,
    code: str,
    message: Any,
    fields: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    response = HttpResponse(
        orjson.dumps(error_body(code, message, fields)),
        status=status,
        content_type="application/json",
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def wants_json(request: HttpRequest) -> bool:
    """API paths answer JSON errors; console pages answer HTML."""
    return request.path.startswith(("/api/", "/healthz", "/readyz"))


def language_for(accept_language: str | None) -> str:
    """The language an answer produced outside ``LocaleMiddleware`` speaks: the first
    supported one in ``Accept-Language``, else the shop's ``LANGUAGE_CODE``."""
    for code, _quality in trans_real.parse_accept_lang_header(accept_language or ""):
        if code == "*":
            continue
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE
