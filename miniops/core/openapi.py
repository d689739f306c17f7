"""The OpenAPI document tells the truth about errors.

django-ninja documents the answers an operation returns itself; the errors come
from shared machinery (the parser, authentication, the throttle, the domain
error handler), so they are added here from what each operation has:

* every operation: 400 (malformed request, refused input) and 429 (throttled);
* authenticated: 401; a management token with a permission: 403;
* a path parameter: 404 (no such thing, or not yours);
* any parameter or body: 422 (validation);
* a JSON body or a file: 413 (too large) and 415 (not sent as JSON / multipart);
* statuses a view declares itself with ``errors(409, ...)`` in ``response=``.

Each with the shared ``ErrorOut`` schema. An ``Idempotency-Key`` header declared
with ``IdempotencyKey(required=True)`` is marked required here (the view takes it
as optional, so that a missing key is the mechanism's own 400).
"""

from __future__ import annotations

import inspect
from http.client import responses as reasons
from typing import Any

from ninja import NinjaAPI
from ninja.constants import NOT_SET
from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation
from ninja.params.models import BodyModel, FileModel, PathModel

from miniops.core.schemas import IDEMPOTENCY_KEY_MAX, ErrorOut

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}


def errors(*statuses: int) -> dict[int, Any]:
    """``response={201: CouponOut, **errors(409)}``: error statuses a view's domain
    can answer beyond the ones every operation of its kind documents."""
    return dict.fromkeys(statuses, ErrorOut)


def error_statuses(operation: Operation) -> set[int]:
    """The error statuses the shared machinery can answer for ``operation``."""
    statuses = {400}
    if operation.throttle_objects:
        statuses.add(429)
    accesses = {getattr(auth, "access", None) for auth in operation.auth_callbacks}
    if accesses - {"public", None} or any(
        getattr(auth, "openapi_security_schema", None) for auth in operation.auth_callbacks
    ):
        statuses.add(401)  # member_or_public too: a bad or expired token is 401
    if any(getattr(auth, "permission", None) for auth in operation.auth_callbacks):
        statuses.add(403)
    models = operation.models
    if any(isinstance(m, type) and issubclass(m, PathModel) for m in models):
        statuses.add(404)
    if models:
        statuses.add(422)
    if any(issubclass(m, BodyModel | FileModel) for m in models) or has_raw_body(operation):
        statuses |= {413, 415, 422}
    return statuses


def has_raw_body(operation: Operation) -> bool:
    """A view that reads ``request.body`` itself declares its body in openapi_extra."""
    return bool((operation.openapi_extra or {}).get("requestBody"))


def required_headers(operation: Operation) -> set[str]:
    """Headers the view declares with ``openapi_required`` (``IdempotencyKey``)."""
    return {
        parameter.default.alias
        for parameter in inspect.signature(operation.view_func).parameters.values()
        if getattr(parameter.default, "openapi_required", False)
    }


class Schema(OpenAPISchema):
    def responses(self, operation: Operation) -> dict[int, Any]:
        result = super().responses(operation)
        declared = {
            status
            for status, model in operation.response_models.items()
            if status is not Ellipsis and model not in (None, NOT_SET)
        }
        for status in error_statuses(operation) | {s for s in declared if s >= 400}:
            result[status] = {
                "description": reasons.get(status, "Error"),
                "content": {"application/json": {"schema": ERROR_REF}},
            }
        return dict(sorted(result.items()))

    def operation_parameters(self, operation: Operation) -> list[dict[str, Any]]:
        parameters = super().operation_parameters(operation)
        required = required_headers(operation)
        for parameter in parameters:
            if parameter["in"] == "header" and parameter["name"] in required:
                parameter["required"] = True
                parameter["schema"] = {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": IDEMPOTENCY_KEY_MAX,
                    "title": parameter["schema"].get("title", parameter["name"]),
                }
        return parameters

    def operation_security(self, operation: Operation) -> list[dict[str, Any]] | None:
        security = super().operation_security(operation)
        if security and any(
            getattr(auth, "access", None) == "public" for auth in operation.auth_callbacks
        ):
            security.append({})  # a token is optional (``member_or_public``)
        return security

    def get_components(self) -> dict[str, Any]:
        schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        self.add_schema_definitions(schema.pop("$defs", {}))
        self.schemas["ErrorOut"] = schema
        return super().get_components()


class Api(NinjaAPI):
    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        return Schema(self, path_prefix)
