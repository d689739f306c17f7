"""WeChat's rules for subscribe-message keyword values, checked before a send.

A value WeChat would refuse (47003 "argument invalid! data.thing1.value invalid")
is never sent: ``check`` raises ``FieldRefused`` naming the field, and the send is
recorded as failed with that field instead. The limits are WeChat's table for
subscribe messages (``thing`` ≤ 20 characters, ``phrase`` ≤ 5 Han characters,
``character_string`` ≤ 32, …). ``thing`` and ``name`` may be shortened safely
(19 characters and "…"); numbers, amounts, dates and phrases never are.

The rule of a keyword is the letters of its key: ``thing1`` is a ``thing``,
``amount12`` an ``amount``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RULES = (
    "thing",
    "number",
    "letter",
    "symbol",
    "character_string",
    "time",
    "date",
    "amount",
    "phone_number",
    "car_number",
    "name",
    "phrase",
)

_KEY = re.compile(r"^([a-z_]+?)(\d+)$")
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_LETTER = re.compile(r"^[A-Za-z]+$")
_CHARSTR = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces, no Han
_PHRASE = re.compile(rf"^[{_HAN}]+$")
_AMOUNT = re.compile(r"^[¥￥$€£]?\d{1,10}(\.\d{1,2})?元?$")
_PHONE = re.compile(r"^\+?[\d-]{1,17}$")
_CAR = re.compile(rf"^[{_HAN}][A-Z][A-Z0-9{_HAN}]{{4,6}}$")
_NAME_HAN = re.compile(rf"^[{_HAN}·]+$")
_NAME_LATIN = re.compile(r"^[A-Za-z .'-]+$")
_SYMBOL = re.compile(r"^[^\w\s]+$")
_DATE_PART = r"\d{4}(年\d{1,2}月\d{1,2}日|[-/]\d{1,2}[-/]\d{1,2})"
_TIME_PART = r"\d{1,2}:\d{2}(:\d{2})?"
_DATE = re.compile(rf"^{_DATE_PART}( {_TIME_PART})?(\s*~\s*{_DATE_PART}( {_TIME_PART})?)?$")
_TIME = re.compile(
    rf"^({_DATE_PART} )?{_TIME_PART}(\s*~\s*({_DATE_PART} )?{_TIME_PART})?$|^{_DATE.pattern[1:-1]}$"
)


class FieldRefused(ValueError):
    """A keyword value WeChat would refuse; ``field`` is the keyword (``thing1``)."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why


def rule_of(key: str) -> str:
    """``thing1`` -> ``thing``; ``character_string3`` -> ``character_string``."""
    match = _KEY.match(key)
    if not match or match.group(1) not in RULES:
        raise ValueError(f"unknown keyword {key!r}")
    return match.group(1)


def keywords_of(content: str) -> list[str]:
    """The keyword keys in a template's content, in order (``{{thing1.DATA}}``)."""
    return re.findall(r"\{\{\s*([a-z_]+\d+)\.DATA\s*\}\}", content)


@dataclass(frozen=True)
class Limit:
    max_len: int
    shorten: bool = False


LIMITS = {
    "thing": Limit(20, shorten=True),
    "number": Limit(32),
    "letter": Limit(32),
    "symbol": Limit(5),
    "character_string": Limit(32),
    "time": Limit(64),
    "date": Limit(64),
    "amount": Limit(14),
    "phone_number": Limit(17),
    "car_number": Limit(8),
    "name": Limit(20, shorten=True),
    "phrase": Limit(5),
}


def _shorten(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def check(key: str, value: str, *, shorten: bool = True) -> str:
    """The value to send for ``key`` (shortened when that is safe), or
    ``FieldRefused``."""
    rule = rule_of(key)
    value = str(value).strip()
    if not value:
        raise FieldRefused(key, "empty")
    if "\n" in value or "\r" in value:
        raise FieldRefused(key, "line breaks are not allowed")
    limit = LIMITS[rule]
    if rule == "name":
        han = bool(_NAME_HAN.match(value))
        cap = 10 if han else 20
        if not han and not _NAME_LATIN.match(value):
            raise FieldRefused(key, "a name is Han characters or Latin letters")
        if len(value) > cap:
            if not shorten:
                raise FieldRefused(key, f"at most {cap} characters")
            value = _shorten(value, cap)
        return value
    if len(value) > limit.max_len:
        if not (shorten and limit.shorten):
            raise FieldRefused(key, f"at most {limit.max_len} characters")
        value = _shorten(value, limit.max_len)
    pattern = {
        "number": _NUMBER,
        "letter": _LETTER,
        "symbol": _SYMBOL,
        "character_string": _CHARSTR,
        "time": _TIME,
        "date": _DATE,
        "amount": _AMOUNT,
        "phone_number": _PHONE,
        "car_number": _CAR,
        "phrase": _PHRASE,
    }.get(rule)
    if pattern is not None and not pattern.match(value):
        raise FieldRefused(key, f"not a valid {rule}")
    return value


def check_all(data: dict[str, str], keys: list[str], *, shorten: bool = True) -> dict[str, str]:
    """Every keyword of the template checked; a missing or extra one refused."""
    missing = [key for key in keys if key not in data]
    if missing:
        raise FieldRefused(missing[0], "missing")
    extra = [key for key in data if key not in keys]
    if extra:
        raise FieldRefused(extra[0], "not a keyword of this template")
    return {key: check(key, data[key], shorten=shorten) for key in keys}
