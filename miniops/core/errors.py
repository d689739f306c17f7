"""Domain errors: the one exception family services raise.

The API maps each to the shared error shape ``{"error": {"code", "message", "fields"}}``
(see ``miniops.core.api_errors``); the console shows ``message``. Services never
return HTTP responses; they raise these.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    status: int = 400
    code: str = "invalid"
    default_message: Any = _("The request could not be processed.")

    def __init__(
        self,
        message: Any = None,
        *,
        code: str | None = None,
        fields: dict[str, Any] | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message if message is not None else self.default_message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})
        super().__init__(str(self.message))


class InvalidInput(DomainError):
    status = 400
    code = "invalid_input"
    default_message = _("Some fields are invalid.")


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"
    default_message = _("Authentication is required.")


class Forbidden(DomainError):
    status = 403
    code = "permission_denied"
    default_message = _("You do not have permission to do this.")


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_message = _("Not found.")


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_message = _("The request conflicts with the current state.")


class IllegalTransition(Conflict):
    code = "illegal_transition"
    default_message = _("This action is not allowed in the current state.")


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"
    default_message = _("The request body is too large.")


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
    default_message = _("Send the body as application/json.")


class Unprocessable(DomainError):
    status = 422
    code = "unprocessable"
    default_message = _("The request is well-formed but cannot be processed.")


class Throttled(DomainError):
    status = 429
    code = "throttled"
    default_message = _("Too many requests; slow down.")

    def __init__(self, message: Any = None, *, retry_after: int | None = None, **kw: Any):
        headers = kw.pop("headers", None) or {}
        if retry_after is not None:
            headers["Retry-After"] = str(max(1, int(retry_after)))
        super().__init__(message, headers=headers, **kw)


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"
    default_message = _("A service we depend on is unavailable; retry shortly.")

    def __init__(self, message: Any = None, *, retry_after: int | None = 5, **kw: Any):
        headers = kw.pop("headers", None) or {}
        if retry_after is not None:
            headers["Retry-After"] = str(max(1, int(retry_after)))
        super().__init__(message, headers=headers, **kw)
