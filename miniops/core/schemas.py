"""Shared pieces of API schemas: strict write bodies, bounded ids, the error shape
and the ``Idempotency-Key`` header.

Every JSON write body subclasses ``StrictIn``; every id a client sends (in the
path, the query or a body) is an ``Id`` or ``ID`` so it fits the database's
64-bit key; every error answer is documented with ``ErrorOut``. The OpenAPI
tests in ``miniops/core/tests/test_openapi.py`` hold every operation to these.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from ninja import Field, Header, Path, Schema
from pydantic import BeforeValidator, ConfigDict, ModelWrapValidatorHandler, model_validator
from pydantic_core import PydanticCustomError

#: Primary keys are 64-bit (``BigAutoField``): a larger number is no id of ours,
#: and would overflow the database driver instead of answering 404.
ID_MAX = 2**63 - 1

#: an id in a body or a query string
Id = Annotated[int, Field(ge=1, le=ID_MAX)]

#: an id in the path: ``def view(request, order_id: int = ID)``
ID = Path(..., ge=1, le=ID_MAX)


def _iso_date(value: Any) -> Any:
    if isinstance(value, date) or (isinstance(value, str) and len(value) <= 32):
        return value
    raise PydanticCustomError("date_type", "Input should be a date as YYYY-MM-DD")


#: JSON has no date type: a date in a strict body is an ISO ``YYYY-MM-DD`` string
#: (and nothing else: not a number of seconds).
JsonDate = Annotated[date, BeforeValidator(_iso_date), Field(strict=False)]


class StrictIn(Schema):
    """A JSON request body: an object, with the declared fields only, whose values
    already have the declared type. The string ``"1"`` or ``true`` is not a
    quantity, ``1`` is not a remark, ``[]`` is not an empty object and a
    misspelt field is not silently ignored. Without this pydantic coerces, and
    django-ninja reads fields off any value as attributes (so ``[null, null]``
    validated as a body of defaults): a client bug becomes an order of the
    wrong thing."""

    model_config = ConfigDict(strict=True, extra="forbid")

    # Replaces ninja's root validator of the same name, which wraps the input in
    # an attribute reader so that model instances and querysets validate (right
    # for answers, wrong for a request body).
    @model_validator(mode="wrap")
    @classmethod
    def _run_root_validator(cls, values: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        if not isinstance(values, dict | cls):
            raise PydanticCustomError("object_type", "Input should be a JSON object")
        return handler(values)


class ErrorDetail(Schema):
    code: str = Field(description="stable, machine-readable: e.g. sold_out, validation_error")
    message: str = Field(description="for people, in the request's language")
    fields: dict[str, Any] = Field(description="per-field reasons (may be empty)")


class ErrorOut(Schema):
    """Every error answer of the API, whatever its status."""

    error: ErrorDetail


#: the header a retryable write takes (``orders.services.idempotency``)
IDEMPOTENCY_KEY_MAX = 128


def IdempotencyKey(*, required: bool) -> Any:
    """``key: str | None = IdempotencyKey(required=True)`` declares the header in
    the OpenAPI document. A write that needs it still answers a missing key with
    400 ``idempotency_key_required`` (the idempotency mechanism checks it, and
    its length), so ninja takes it as optional and ``miniops.core.openapi``
    marks it required in the document."""
    param = Header(
        None,
        alias="Idempotency-Key",
        description=(
            "A client-made unique value per logical request (a UUID; at most "
            f"{IDEMPOTENCY_KEY_MAX} printable characters)"
            + (", required" if required else "")
            + ". A retry with the same key and body answers the first result again; "
            "the same key with another body is 422 idempotency_key_reused; while the "
            "first is still running, 409 request_in_progress."
        ),
        example="1f0c6f1e-5b7a-4c1e-9a57-3d2f8f6b9c10",
    )
    param.openapi_required = required
    return param
