"""Ninja glue: strict body parsing and one handler per error family.

Every API answer that is not a success has the shape
``{"error": {"code": "...", "message": "...", "fields": {...}}}``. Unexpected
exceptions are logged with the request id and answered as a plain 500 without
details; bad input never reaches that branch.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser

from miniops.core.errors import DomainError, UnsupportedMediaType
from miniops.core.responses import error_response

logger = logging.getLogger("miniops.api")


class MalformedInput(ValueError):
    """Raised by the parser; its message reaches the client."""


def _check_text(value: Any, path: str = "") -> None:
    """Walk parsed JSON and refuse NUL characters (PostgreSQL cannot store them)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise MalformedInput(gettext("NUL characters are not allowed (%s)") % (path or "body"))
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, path)
            _check_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, f"{path}.{index}" if path else str(index))


def is_json(content_type: str) -> bool:
    """``application/json`` or a ``+json`` type (``application/merge-patch+json``)."""
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


def require_json(request: HttpRequest) -> None:
    """A JSON body must say so: ``text/plain`` or no Content-Type is refused with
    415 rather than guessed at (a form post or a beacon is not an API call)."""
    if not is_json(request.content_type or ""):
        raise UnsupportedMediaType(
            gettext("Send the body as application/json."),
            fields={"Content-Type": request.content_type or "missing"},
        )


def require_multipart(request: HttpRequest) -> None:
    if (request.content_type or "") != "multipart/form-data":
        raise UnsupportedMediaType(
            gettext("Send the file as multipart/form-data."),
            fields={"Content-Type": request.content_type or "missing"},
        )


class StrictParser(Parser):
    """orjson parsing (which refuses lone surrogates and invalid UTF-8) plus a NUL
    check, for bodies sent as JSON (415 otherwise); uploads only as multipart."""

    def parse_body(self, request: HttpRequest) -> Any:
        # Only called when there is a body: an empty one needs no type.
        require_json(request)
        body = request.body
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise MalformedInput(gettext("The body is not valid JSON: %s") % exc) from exc
        # A NUL can only arrive escaped; skip the walk when the escape is absent.
        if b"\\u0000" in body:
            _check_text(data)
        return data

    def parse_querydict(
        self, data: MultiValueDict, list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        if data is request.FILES:  # ninja reads File parameters from here
            require_multipart(request)
        result = super().parse_querydict(data, list_fields, request)
        for key, value in result.items():
            if not hasattr(value, "read"):  # uploaded files are checked by their own rules
                _check_text(value, key)
        return result


def _validation_message(error: dict[str, Any]) -> str:
    """pydantic's message for a field, in the request's language for the common
    kinds of mistake (pydantic itself speaks English only)."""
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    words = {
        "missing": gettext("This field is required."),
        "extra_forbidden": gettext("This field is not expected here."),
        "string_type": gettext("Send text."),
        "int_type": gettext("Send a whole number."),
        "int_parsing": gettext("Send a whole number."),
        "int_from_float": gettext("Send a whole number."),
        "bool_type": gettext("Send true or false."),
        "bool_parsing": gettext("Send true or false."),
        "list_type": gettext("Send a list."),
        "dict_type": gettext("Send an object."),
        "model_type": gettext("Send an object."),
        "date_from_datetime_parsing": gettext("Send a date such as 2026-12-02."),
        "date_parsing": gettext("Send a date such as 2026-12-02."),
        "datetime_parsing": gettext("Send a time such as 2026-12-02T08:00:00+08:00."),
        "datetime_from_date_parsing": gettext("Send a time such as 2026-12-02T08:00:00+08:00."),
    }
    if kind in words:
        return words[kind]
    limits = {
        "string_too_short": gettext("At least %s characters."),
        "string_too_long": gettext("At most %s characters."),
        "too_short": gettext("At least %s items."),
        "too_long": gettext("At most %s items."),
        "greater_than_equal": gettext("At least %s."),
        "greater_than": gettext("More than %s."),
        "less_than_equal": gettext("At most %s."),
        "less_than": gettext("Less than %s."),
    }
    if kind in limits:
        limit = next(
            (
                context[k]
                for k in ("min_length", "max_length", "ge", "gt", "le", "lt")
                if k in context
            ),
            "",
        )
        return limits[kind] % limit
    if kind in ("literal_error", "enum"):
        return gettext("Not one of the accepted values: %s.") % context.get("expected", "")
    return str(error.get("msg", "invalid"))


def _fields_from_validation(errors: list[dict[str, Any]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for error in errors:
        loc = [str(part) for part in error.get("loc", [])]
        if loc and loc[0] == "body" and len(loc) > 2:
            key = ".".join(loc[2:])
        elif len(loc) > 1:
            key = ".".join(loc[1:])
        else:
            key = ".".join(loc) or "__all__"
        message = _validation_message(error)
        fields.setdefault(key, message)
    return fields


def install(api: NinjaAPI) -> None:
    """Register the shared error handlers on ``api``."""

    @api.exception_handler(DomainError)
    def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
        return error_response(exc.status, exc.code, exc.message, exc.fields, exc.headers)

    @api.exception_handler(NinjaValidationError)
    def on_validation(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        fields = _fields_from_validation(exc.errors)
        return error_response(422, "validation_error", gettext("Some fields are invalid."), fields)

    @api.exception_handler(Throttled)
    def on_throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
        return error_response(429, "throttled", gettext("Too many requests; slow down."))

    @api.exception_handler(AuthenticationError)
    def on_authn(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return error_response(
            401,
            "not_authenticated",
            gettext("Authentication is required."),
            headers={"WWW-Authenticate": "Bearer"},
        )

    @api.exception_handler(AuthorizationError)
    def on_authz(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
        return error_response(
            403, "permission_denied", gettext("You do not have permission to do this.")
        )

    @api.exception_handler(HttpError)
    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        cause = exc.__cause__
        if isinstance(cause, RequestDataTooBig):
            return error_response(
                413, "payload_too_large", gettext("The request body is too large.")
            )
        if isinstance(cause, MalformedInput):
            return error_response(400, "malformed_request", str(cause))
        if isinstance(cause, DomainError):  # raised by the parser (415)
            return on_domain_error(request, cause)
        code = {400: "malformed_request", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "error"
        )
        return error_response(exc.status_code, code, str(exc))

    @api.exception_handler(Http404)
    def on_404(request: HttpRequest, exc: Http404) -> HttpResponse:
        return error_response(404, "not_found", gettext("Not found."))

    @api.exception_handler(PermissionDenied)
    def on_403(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return error_response(
            403, "permission_denied", gettext("You do not have permission to do this.")
        )

    @api.exception_handler(RequestDataTooBig)
    def on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return error_response(413, "payload_too_large", gettext("The request body is too large."))

    @api.exception_handler(MultiPartParserError)
    def on_bad_multipart(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
        # No boundary, a part without its blank line, a truncated stream: the
        # client's fault, whatever Django's parser found.
        return error_response(400, "malformed_request", gettext("The multipart body is malformed."))

    @api.exception_handler(SuspiciousOperation)
    def on_suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
        return error_response(400, "malformed_request", gettext("The request was refused."))

    @api.exception_handler(Exception)
    def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", gettext("Something went wrong on our side."))
