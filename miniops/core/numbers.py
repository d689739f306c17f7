"""Human-readable unique numbers for orders, refunds, payments and tickets.

Format: ``<PREFIX><YYMMDD><SSSSS><RRRRRR><C>`` — the business date, the second of
that day, six random digits and a Luhn check digit, e.g. ``O2611253021748291036``.
People read them over the phone to customer service: the date tells when, the
check digit catches a mistyped digit before any look-up, and no sequence leaks
the shop's volume. Uniqueness is enforced by the database (a unique constraint on
the column); callers generate a new number and retry on the rare collision
(10^6 numbers per second, so ~0.02 collisions/s at 200 orders/s).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from django.db import IntegrityError, transaction

from miniops.core import timeutils

_PREFIX = re.compile(r"[A-Z]{1,4}")
_DIGITS = re.compile(r"[0-9]{18}")
T = TypeVar("T")


def luhn_digit(digits: str) -> str:
    """The Luhn check digit for a string of digits."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def new_number(prefix: str, *, moment: datetime | None = None) -> str:
    if not _PREFIX.fullmatch(prefix):
        raise ValueError("prefix must be 1-4 capital letters")
    if moment is not None and moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware datetime")
    moment = (moment or timeutils.now()).astimezone(timeutils.business_tz())
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
    body = f"{moment:%y%m%d}{seconds:05d}{secrets.randbelow(1_000_000):06d}"
    return f"{prefix}{body}{luhn_digit(body)}"


def is_valid_number(value: str, prefix: str) -> bool:
    """Shape and check digit, without a database look-up."""
    if not value.startswith(prefix):
        return False
    digits = value[len(prefix) :]
    return bool(_DIGITS.fullmatch(digits)) and luhn_digit(digits[:-1]) == digits[-1]


def create_with_number(prefix: str, create: Callable[[str], T], *, attempts: int = 5) -> T:
    """Call ``create(number)`` with fresh numbers until it does not collide.

    ``create`` runs in a savepoint so a collision does not break the caller's
    transaction. Any other IntegrityError is re-raised on the last attempt.
    """
    for attempt in range(attempts):
        number = new_number(prefix)
        try:
            with transaction.atomic():
                return create(number)
        except IntegrityError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
