"""Shared bases for API schemas."""

from __future__ import annotations

from ninja import Schema
from pydantic import ConfigDict


class StrictIn(Schema):
    """A JSON request body whose values must already have the declared type: the
    string ``"1"`` or ``true`` is not a quantity, ``1`` is not a remark. Without it
    pydantic coerces, and a client bug becomes an order of the wrong thing."""

    model_config = ConfigDict(strict=True)
