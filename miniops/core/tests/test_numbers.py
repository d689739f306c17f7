"""Human-readable unique numbers: shape, business date, Luhn check, retries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection
from hypothesis import given
from hypothesis import strategies as st

from miniops.accounts.models import Role
from miniops.core import numbers
from miniops.core.numbers import create_with_number, is_valid_number, luhn_digit, new_number

SHANGHAI = ZoneInfo("Asia/Shanghai")

prefixes = st.from_regex(r"\A[A-Z]{1,4}\Z")
moments = st.datetimes(
    min_value=datetime(2000, 1, 2),
    max_value=datetime(2098, 12, 30),
    timezones=st.just(UTC),
)
randoms = st.integers(min_value=0, max_value=999_999)


def make_number(prefix: str, moment: datetime, random: int) -> str:
    with mock.patch.object(numbers.secrets, "randbelow", return_value=random):
        return new_number(prefix, moment=moment)


def standard_luhn_valid(digits: str) -> bool:
    """Textbook Luhn validation of a full number (payload + check digit)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value * 2 > 9 else value * 2
        total += value
    return total % 10 == 0


# --- luhn_digit --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "check"),
    [
        ("7992739871", "3"),  # the classic worked example
        ("0", "0"),
        ("1", "8"),
        ("5", "9"),
        ("9", "1"),
        ("453957876362148", "6"),  # a published test Visa number, 4539578763621486
        ("00000000000000000", "0"),
    ],
)
def test_luhn_digit_known_values(payload: str, check: str) -> None:
    # given a payload with a known check digit
    # when / then
    assert luhn_digit(payload) == check


@given(st.text(alphabet="0123456789", min_size=1, max_size=30))
def test_luhn_digit_makes_a_valid_luhn_number(payload: str) -> None:
    # given any digit string
    # when the check digit is appended
    full = payload + luhn_digit(payload)
    # then the textbook validator accepts it, and no other digit would pass
    assert standard_luhn_valid(full)
    others = [d for d in "0123456789" if d != full[-1]]
    assert not any(standard_luhn_valid(payload + d) for d in others)


# --- new_number: shape -------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["O", "RF", "PAY", "TKTS"])
def test_new_number_shape(prefix: str) -> None:
    # given a valid prefix
    # when
    number = new_number(prefix)
    # then prefix + 18 ASCII digits (6 date, 5 second, 6 random, 1 check)
    assert re.fullmatch(rf"{prefix}[0-9]{{18}}", number)
    assert is_valid_number(number, prefix)


def test_new_number_fields_are_where_the_format_says() -> None:
    # given a fixed moment (Shanghai 2026-11-25 08:23:11) and random part
    moment = datetime(2026, 11, 25, 8, 23, 11, tzinfo=SHANGHAI)
    # when
    number = make_number("O", moment, 4_829)
    # then the fields read back
    assert number[1:7] == "261125"
    assert number[7:12] == f"{8 * 3600 + 23 * 60 + 11:05d}" == "30191"
    assert number[12:18] == "004829"
    assert number[18] == luhn_digit(number[1:18])
    assert len(number) == 19


@pytest.mark.parametrize(
    ("local", "seconds"),
    [
        ((0, 0, 0), "00000"),
        ((0, 0, 1), "00001"),
        ((1, 0, 0), "03600"),
        ((23, 59, 59), "86399"),
    ],
)
def test_new_number_second_of_day_is_zero_padded(local: tuple[int, int, int], seconds: str) -> None:
    # given a local time of day in the business zone
    moment = datetime(2026, 5, 17, *local, tzinfo=SHANGHAI)
    # when
    number = make_number("O", moment, 0)
    # then the second-of-day field is five digits
    assert number[7:12] == seconds
    assert number[12:18] == "000000"


def test_new_number_ignores_microseconds() -> None:
    # given two moments in the same second
    a = datetime(2026, 5, 17, 10, 0, 0, 1, tzinfo=SHANGHAI)
    b = datetime(2026, 5, 17, 10, 0, 0, 999_999, tzinfo=SHANGHAI)
    # when / then
    assert make_number("O", a, 7) == make_number("O", b, 7)


def test_new_number_random_part_varies() -> None:
    # given many numbers drawn in the same second
    moment = datetime(2026, 5, 17, 10, 0, tzinfo=SHANGHAI)
    # when
    randoms_seen = {new_number("O", moment=moment)[12:18] for _ in range(50)}
    # then they are not all the same (the collision odds are ~1e-6 per pair)
    assert len(randoms_seen) > 40


def test_new_number_defaults_to_now(settings: Any) -> None:
    # given the clock
    settings.TIME_ZONE = "Asia/Shanghai"
    before = datetime.now(SHANGHAI)
    # when
    number = new_number("O")
    after = datetime.now(SHANGHAI)
    # then the date and second come from the current moment
    candidates = {
        (t.strftime("%y%m%d"), f"{t.hour * 3600 + t.minute * 60 + t.second:05d}")
        for t in (before, after)
    }
    assert (number[1:7], number[7:12]) in candidates


# --- new_number: business time zone ------------------------------------------------


def test_date_part_uses_business_zone_shanghai(settings: Any) -> None:
    # given 17:00 UTC on 1 January, which is 01:00 on 2 January in Shanghai
    settings.TIME_ZONE = "Asia/Shanghai"
    moment = datetime(2026, 1, 1, 17, 0, tzinfo=UTC)
    # when
    number = make_number("O", moment, 1)
    # then the number carries the local date and local second of day
    assert number[1:7] == "260102"
    assert number[7:12] == "03600"


def test_date_part_follows_time_zone_setting(settings: Any) -> None:
    # given the same UTC moment with the business zone set to UTC
    settings.TIME_ZONE = "UTC"
    moment = datetime(2026, 1, 1, 17, 0, tzinfo=UTC)
    # when
    number = make_number("O", moment, 1)
    # then the date is still 1 January, 17:00
    assert number[1:7] == "260101"
    assert number[7:12] == f"{17 * 3600:05d}"


def test_date_part_west_of_utc(settings: Any) -> None:
    # given 03:00 UTC on 1 January, which is still 31 December in New York
    settings.TIME_ZONE = "America/New_York"
    moment = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    # when
    number = make_number("O", moment, 1)
    # then the previous local day is used
    assert number[1:7] == "251231"
    assert number[7:12] == f"{22 * 3600:05d}"


def test_shanghai_day_boundary(settings: Any) -> None:
    # given the last and first second around Shanghai midnight (16:00 UTC)
    settings.TIME_ZONE = "Asia/Shanghai"
    last = datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC)
    first = last + timedelta(seconds=1)
    # when
    a, b = make_number("O", last, 0), make_number("O", first, 0)
    # then
    assert (a[1:7], a[7:12]) == ("260301", "86399")
    assert (b[1:7], b[7:12]) == ("260302", "00000")


# --- new_number: prefixes ----------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "o", "ORDER", "O1", "1", "Ö", "O-", " O", "O ", "ab"])
def test_invalid_prefixes_are_refused(prefix: str) -> None:
    # given a prefix that is not 1-4 capital ASCII letters
    # when / then
    with pytest.raises(ValueError, match="prefix"):
        new_number(prefix)


def test_prefix_with_trailing_newline_is_refused() -> None:
    # given a prefix with a trailing newline (e.g. read from a file or form)
    # when / then it is refused like any other invalid prefix
    with pytest.raises(ValueError, match="prefix"):
        new_number("O\n")


# --- is_valid_number ---------------------------------------------------------------


@given(prefixes, moments, randoms)
def test_every_generated_number_is_valid(prefix: str, moment: datetime, random: int) -> None:
    # given any number new_number produces
    number = make_number(prefix, moment, random)
    # when / then it has the documented shape and passes validation
    assert re.fullmatch(r"[A-Z]{1,4}[0-9]{18}", number)
    assert number.startswith(prefix)
    assert is_valid_number(number, prefix)
    assert standard_luhn_valid(number[len(prefix) :])


@given(prefixes, moments, randoms, st.data())
def test_check_digit_catches_every_single_digit_substitution(
    prefix: str, moment: datetime, random: int, data: st.DataObject
) -> None:
    # given a generated number
    number = make_number(prefix, moment, random)
    digits = number[len(prefix) :]
    position = data.draw(st.integers(min_value=0, max_value=len(digits) - 1))
    replacement = data.draw(st.sampled_from([d for d in "0123456789" if d != digits[position]]))
    # when one digit (the check digit included) is mistyped
    typo = prefix + digits[:position] + replacement + digits[position + 1 :]
    # then validation fails
    assert not is_valid_number(typo, prefix)


@given(prefixes, moments, randoms)
def test_check_digit_catches_adjacent_transpositions(
    prefix: str, moment: datetime, random: int
) -> None:
    # given a generated number
    number = make_number(prefix, moment, random)
    digits = number[len(prefix) :]
    # when any two adjacent different digits are swapped (0<->9 is Luhn's blind spot)
    for i in range(len(digits) - 1):
        a, b = digits[i], digits[i + 1]
        if a == b or {a, b} == {"0", "9"}:
            continue
        swapped = prefix + digits[:i] + b + a + digits[i + 2 :]
        # then validation fails
        assert not is_valid_number(swapped, prefix), (number, i)


def test_zero_nine_transposition_is_luhns_known_blind_spot() -> None:
    # given a payload ending in "09"; swapping to "90" leaves the Luhn sum unchanged
    body = "12345678901234509"
    number = "O" + body + luhn_digit(body)
    swapped = "O" + body[:-2] + "90" + number[-1]
    # when / then: documented limitation, not a bug
    assert is_valid_number(number, "O")
    assert is_valid_number(swapped, "O")


def test_is_valid_number_wrong_prefix() -> None:
    # given a valid refund number
    number = make_number("RF", datetime(2026, 1, 1, tzinfo=UTC), 5)
    # when / then it is not a valid order or payment number
    assert is_valid_number(number, "RF")
    assert not is_valid_number(number, "O")
    assert not is_valid_number(number, "PAY")
    assert not is_valid_number(number.lower(), "RF")


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda n: n[:-1], id="one-digit-short"),
        pytest.param(lambda n: n + "0", id="one-digit-long"),
        pytest.param(lambda n: n[:5] + "A" + n[6:], id="letter-in-body"),
        pytest.param(lambda n: n[:-1] + "X", id="letter-as-check"),
        pytest.param(lambda n: n[:5] + " " + n[6:], id="space-in-body"),
        pytest.param(lambda n: n + "\n", id="trailing-newline"),
        pytest.param(lambda n: " " + n, id="leading-space"),
        pytest.param(lambda n: "O", id="prefix-only"),
        pytest.param(lambda n: "", id="empty"),
    ],
)
def test_is_valid_number_refuses_malformed(mutate: Any) -> None:
    # given a valid number, then damaged
    number = make_number("O", datetime(2026, 7, 1, 12, tzinfo=UTC), 123_456)
    assert is_valid_number(number, "O")
    # when / then
    assert not is_valid_number(mutate(number), "O")


def test_is_valid_number_refuses_fullwidth_digits() -> None:
    # given a number typed with full-width digits by a Chinese IME
    number = make_number("O", datetime(2026, 7, 1, 12, tzinfo=UTC), 42)
    fullwidth = "O" + "".join(chr(ord(c) + 0xFEE0) for c in number[1:])
    # when / then it does not pass as a stored number
    assert not is_valid_number(fullwidth, "O")


def test_is_valid_number_returns_false_for_superscript_digits() -> None:
    # given user input with superscript digits ('²'.isdigit() is True)
    value = "O" + "²" * 17 + "0"
    # when / then it is simply invalid, not an exception
    assert is_valid_number(value, "O") is False


# --- create_with_number ------------------------------------------------------------


class FlakyCreate:
    """Raises IntegrityError on the first ``failures`` calls, then returns a value."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.numbers: list[str] = []
        self.savepoint_depths: list[int] = []

    def __call__(self, number: str) -> str:
        self.numbers.append(number)
        self.savepoint_depths.append(len(connection.savepoint_ids))
        if len(self.numbers) <= self.failures:
            raise IntegrityError("UNIQUE constraint failed: number")
        return f"created {number}"


def test_create_with_number_first_try(db: None) -> None:
    # given a create that succeeds
    create = FlakyCreate(failures=0)
    # when
    result = create_with_number("O", create)
    # then it is called once with a valid number and its result is returned
    assert result == f"created {create.numbers[0]}"
    assert len(create.numbers) == 1
    assert is_valid_number(create.numbers[0], "O")


@pytest.mark.parametrize("failures", [1, 2, 4])
def test_create_with_number_retries_on_collision(db: None, failures: int) -> None:
    # given a create that collides ``failures`` times (fewer than the 5 attempts)
    create = FlakyCreate(failures=failures)
    # when
    result = create_with_number("PAY", create)
    # then it retried, each time with a fresh valid number, and returned the last result
    assert len(create.numbers) == failures + 1
    assert result == f"created {create.numbers[-1]}"
    assert all(is_valid_number(n, "PAY") for n in create.numbers)


def test_create_with_number_generates_a_new_number_per_attempt(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a deterministic number source
    issued = iter(["O000000000000000001", "O000000000000000002", "O000000000000000003"])
    monkeypatch.setattr(numbers, "new_number", lambda prefix: next(issued))
    create = FlakyCreate(failures=2)
    # when
    create_with_number("O", create)
    # then every attempt got the next number, none was reused
    assert create.numbers == [
        "O000000000000000001",
        "O000000000000000002",
        "O000000000000000003",
    ]


def test_create_with_number_reraises_after_last_attempt(db: None) -> None:
    # given a create that always collides
    create = FlakyCreate(failures=100)
    # when / then the IntegrityError surfaces after exactly ``attempts`` tries
    with pytest.raises(IntegrityError, match="UNIQUE"):
        create_with_number("O", create, attempts=3)
    assert len(create.numbers) == 3


def test_create_with_number_default_is_five_attempts(db: None) -> None:
    # given a create that always collides
    create = FlakyCreate(failures=100)
    # when / then
    with pytest.raises(IntegrityError):
        create_with_number("O", create)
    assert len(create.numbers) == 5


def test_create_with_number_succeeds_on_last_attempt(db: None) -> None:
    # given a create that collides on all but the last attempt
    create = FlakyCreate(failures=2)
    # when
    result = create_with_number("O", create, attempts=3)
    # then it is not given up on too early
    assert result == f"created {create.numbers[-1]}"


def test_create_with_number_does_not_retry_other_errors(db: None) -> None:
    # given a create failing with something other than a collision
    calls: list[str] = []

    def create(number: str) -> None:
        calls.append(number)
        raise RuntimeError("boom")

    # when / then it propagates immediately
    with pytest.raises(RuntimeError, match="boom"):
        create_with_number("O", create)
    assert len(calls) == 1


def test_create_with_number_runs_create_in_a_savepoint(db: None) -> None:
    # given the caller's transaction depth
    outer_depth = len(connection.savepoint_ids)
    create = FlakyCreate(failures=1)
    # when
    create_with_number("O", create)
    # then every attempt ran inside its own savepoint
    assert create.savepoint_depths == [outer_depth + 1, outer_depth + 1]


def test_create_with_number_real_collision_keeps_transaction_usable(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a row already holding the first number that will be issued
    taken, fresh = "O260101000000000002", "O260101000000000010"
    Role.objects.create(code=taken, name="existing")
    issued = iter([taken, fresh])
    monkeypatch.setattr(numbers, "new_number", lambda prefix: next(issued))

    # when the unique constraint fires on the first attempt
    role = create_with_number("O", lambda number: Role.objects.create(code=number, name="new"))

    # then the second number was used and the transaction still works
    assert role.code == fresh
    assert set(Role.objects.filter(code__in=[taken, fresh]).values_list("name", flat=True)) == {
        "existing",
        "new",
    }
