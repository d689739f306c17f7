"""Shared pieces of API schemas: strict write bodies, bounded ids, the error shape
and the ``Idempotency-Key`` header.

Every JSON write body subclasses ``StrictIn``; every id a client sends (in the
path, the query or a body) is an ``Id`` or ``ID`` so it fits the database's
64-bit key; every error answer is documented with ``ErrorOut``. The OpenAPI
tests in ``tests/test_openapi.py`` hold every operation to these.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from django.utils import timezone
from ninja import Field, Header, Path, Schema
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    ModelWrapValidatorHandler,
    model_validator,
)
from pydantic_core import PydanticCustomError

#: Primary keys are 64-bit (``BigAutoField``): a larger number is no id of ours,
#: and would overflow the database driver instead of answering 404.
ID_MAX = 2**63 - 1

#: an id in a body or a query string
Id = Annotated[int, Field(ge=1, le=ID_MAX)]

#: an id in the path: ``def view(request, order_id: int = ID)``
ID = Path(..., ge=1, le=ID_MAX)

#: any other integer that is stored or compared in the database as a 64-bit value
Int64 = Annotated[int, Field(ge=-(2**63), le=ID_MAX)]


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$"
)


def _matching(pattern: re.Pattern[str], kind: type, message: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, kind) or (isinstance(value, str) and pattern.match(value)):
            return value
        raise PydanticCustomError(f"{kind.__name__}_format", message)

    return BeforeValidator(check)


#: A date a client sends, in a body or a query string: ``YYYY-MM-DD`` and nothing
#: else. pydantic alone also reads numbers as Unix times (``?until=0.5`` was 1970).
IsoDate = Annotated[
    date, _matching(_DATE, date, "Input should be a date as YYYY-MM-DD"), Field(strict=False)
]


def _in_utc(value: datetime) -> datetime:
    """An aware moment in UTC: the database never sees the client's offset (and an
    offset no zone has, like -19:49, is refused here rather than by PostgreSQL)."""
    if value.tzinfo is None:
        value = timezone.make_aware(value)
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        raise PydanticCustomError("datetime_offset", "The UTC offset is beyond ±14:00")
    return value.astimezone(UTC)


#: every time zone in use lies between UTC-12:00 and UTC+14:00
MAX_UTC_OFFSET = timedelta(hours=14)

#: A moment a client sends: ISO 8601 (``2026-11-30T08:00:00+08:00``; without a zone,
#: the configured time zone), handed on in UTC.
IsoDateTime = Annotated[
    datetime,
    _matching(_DATETIME, datetime, "Input should be an ISO 8601 date and time"),
    Field(strict=False),
    AfterValidator(_in_utc),
]


def _exact_int(value: Any) -> Any:
    if type(value) is not int:
        raise PydanticCustomError("int_type", "Input should be an integer")
    return value


#: For ``Literal[0, 1, 2]`` in a body: pydantic matches ``false`` and ``0.0`` to 0,
#: strict or not (they compare equal in Python).
EXACT_INT = BeforeValidator(_exact_int)


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
