"""Money helpers: integer fen in, integer fen out, exact splits."""

from __future__ import annotations

import itertools
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from miniops.core.money import (
    MAX_FEN,
    MoneyError,
    allocate,
    fen,
    fen_to_yuan,
    format_fen,
    percent_of,
    yuan_to_fen,
)

amounts = st.integers(min_value=0, max_value=MAX_FEN)


# --- fen ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 12_345, MAX_FEN])
def test_fen_accepts_integers_in_range(value: int) -> None:
    # given an in-range integer
    # when
    result = fen(value)
    # then it comes back unchanged, still an int
    assert result == value
    assert type(result) is int


@pytest.mark.parametrize("value", [True, False])
def test_fen_refuses_bool(value: bool) -> None:
    # given a bool, which is an int subclass
    # when / then
    with pytest.raises(MoneyError, match="integer"):
        fen(value)


@pytest.mark.parametrize("value", [1.0, 0.5, Decimal("1"), "1", None])
def test_fen_refuses_non_integers(value: object) -> None:
    # given anything that is not an int
    # when / then
    with pytest.raises(MoneyError, match="integer"):
        fen(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [-1, MAX_FEN + 1, -MAX_FEN])
def test_fen_refuses_out_of_range(value: int) -> None:
    # given a negative or too large amount
    # when / then
    with pytest.raises(MoneyError, match="range"):
        fen(value)


def test_money_error_is_a_value_error() -> None:
    # given / when / then: callers catching ValueError also catch MoneyError
    with pytest.raises(ValueError, match="range"):
        fen(-1)


# --- yuan_to_fen -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12.5", 1250),
        ("12.50", 1250),
        ("12", 1200),
        ("0", 0),
        ("0.01", 1),
        ("0.1", 10),
        (" 3.07 ", 307),
        ("1,234.56", 123456),
        ("1000000000", MAX_FEN),
        ("1000000000.00", MAX_FEN),
        ("-0", 0),
        (7, 700),
        (Decimal("19.99"), 1999),
        (Decimal("2.5"), 250),
    ],
)
def test_yuan_to_fen_parses_exactly(text: str | int | Decimal, expected: int) -> None:
    # given a yuan amount as string, int or Decimal
    # when
    result = yuan_to_fen(text)
    # then it is converted to fen exactly
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize("value", [0.1, 12.5, 1.0, 0.0])
def test_yuan_to_fen_refuses_floats(value: float) -> None:
    # given a float, even one that looks harmless
    # when / then
    with pytest.raises(MoneyError, match="float"):
        yuan_to_fen(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["1.001", "0.005", "12.500", "1e-3", Decimal("0.125")])
def test_yuan_to_fen_refuses_more_than_two_decimals(text: str | Decimal) -> None:
    # given sub-fen precision, even trailing zeros ("12.500")
    # when / then
    with pytest.raises(MoneyError, match="two decimal"):
        yuan_to_fen(text)


@pytest.mark.parametrize("text", ["-0.01", "-1", "-12.50", "1000000000.01", "1e10"])
def test_yuan_to_fen_refuses_negative_and_out_of_range(text: str) -> None:
    # given an amount below zero or above MAX_FEN
    # when / then
    with pytest.raises(MoneyError, match="range"):
        yuan_to_fen(text)


@pytest.mark.parametrize("text", ["", "abc", "12.3.4", "¥12", "12 yuan", "--1"])
def test_yuan_to_fen_refuses_garbage(text: str) -> None:
    # given something that is not a number
    # when / then
    with pytest.raises(MoneyError, match="not an amount"):
        yuan_to_fen(text)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_yuan_to_fen_refuses_non_finite(text: str) -> None:
    # given a Decimal special value
    # when / then
    with pytest.raises(MoneyError, match="finite"):
        yuan_to_fen(text)


# --- fen_to_yuan / format_fen ------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (0, "0.00"),
        (1, "0.01"),
        (10, "0.10"),
        (99, "0.99"),
        (100, "1.00"),
        (1234, "12.34"),
        (123456789, "1234567.89"),
        (-1, "-0.01"),
        (-1234, "-12.34"),
    ],
)
def test_fen_to_yuan(amount: int, expected: str) -> None:
    # given an amount in fen
    # when / then it prints with exactly two decimals and no separators
    assert fen_to_yuan(amount) == expected


@given(amounts)
def test_yuan_to_fen_inverts_fen_to_yuan(amount: int) -> None:
    # given any valid amount
    # when it is printed and parsed back
    # then nothing is lost
    assert yuan_to_fen(fen_to_yuan(amount)) == amount


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (0, "¥0.00"),
        (5, "¥0.05"),
        (99_999, "¥999.99"),
        (100_000, "¥1,000.00"),
        (123_456, "¥1,234.56"),
        (123_456_789, "¥1,234,567.89"),
        (MAX_FEN, "¥1,000,000,000.00"),
        (-5, "-¥0.05"),
        (-123_456, "-¥1,234.56"),
    ],
)
def test_format_fen(amount: int, expected: str) -> None:
    # given an amount in fen
    # when / then it has the yuan sign, thousands separators and the sign in front
    assert format_fen(amount) == expected


@given(amounts)
def test_format_fen_is_parseable_back(amount: int) -> None:
    # given any amount
    # when the display string is stripped of its currency sign
    shown = format_fen(amount)
    # then the separators are accepted by the parser and the value survives
    assert shown.startswith("¥")
    assert yuan_to_fen(shown[1:]) == amount


# --- percent_of --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "percent", "expected"),
    [
        (10_000, 10, 1_000),
        (10_000, "12.5", 1_250),
        (5, 10, 1),  # 0.5 -> 1 (half up, not banker's 0)
        (15, 10, 2),  # 1.5 -> 2
        (25, 10, 3),  # 2.5 -> 3 (banker's would give 2)
        (4, 10, 0),  # 0.4 -> 0
        (14, 10, 1),  # 1.4 -> 1
        (999, Decimal("33.33"), 333),  # 332.9667 -> 333
        (1, 50, 1),  # 0.5 -> 1
        (1, 49, 0),  # 0.49 -> 0
        (12_345, 0, 0),
        (12_345, 100, 12_345),
        (12_345, 200, 24_690),
        (0, 37, 0),
    ],
)
def test_percent_of_rounds_half_up(
    amount: int, percent: int | str | Decimal, expected: int
) -> None:
    # given an amount and a percentage
    # when
    result = percent_of(amount, percent)
    # then the result is rounded half up to a whole fen
    assert result == expected
    assert type(result) is int


@given(amounts, st.integers(min_value=0, max_value=10_000))
def test_percent_of_is_the_nearest_fen(amount: int, basis_points: int) -> None:
    # given a percentage with two decimals (as basis points)
    percent = Decimal(basis_points) / 100
    exact = Fraction(amount * basis_points, 10_000)
    # when
    result = percent_of(amount, percent)
    # then it is within half a fen of the exact value, ties going up
    assert exact - Fraction(1, 2) < result <= exact + Fraction(1, 2)


# --- allocate ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (100, [1, 1], [50, 50]),
        (100, [1, 1, 1], [34, 33, 33]),  # tie: earliest line gets the extra fen
        (101, [1, 1], [51, 50]),
        (10, [1, 2, 7], [1, 2, 7]),
        (100, [3000, 2000, 5000], [30, 20, 50]),
        (7, [1, 1, 1, 1], [2, 2, 2, 1]),
        (5, [2, 3, 0], [2, 3, 0]),
        (1, [1, 3], [0, 1]),  # 0.25 vs 0.75: largest remainder wins, not the earliest
        (2, [1, 1, 2], [1, 0, 1]),  # remainders 0.5, 0.5, 0: tie goes to the earliest
        (0, [1, 2, 3], [0, 0, 0]),
        (100, [7], [100]),
    ],
)
def test_allocate_examples(total: int, weights: list[int], expected: list[int]) -> None:
    # given a total and line weights
    # when
    shares = allocate(total, weights)
    # then shares follow the largest-remainder method
    assert shares == expected


def test_allocate_largest_remainder_beats_position() -> None:
    # given remainders 1/3, 2/3 (the later line's is larger)
    # when
    shares = allocate(1, [1, 2])
    # then the leftover fen goes to the line with the larger remainder
    assert shares == [0, 1]


def test_allocate_empty_weights_with_zero_total() -> None:
    # given nothing to split and nowhere to put it
    # when / then
    assert allocate(0, []) == []


def test_allocate_empty_weights_with_amount_is_refused() -> None:
    # given money but no lines
    # when / then
    with pytest.raises(MoneyError, match="nothing to allocate"):
        allocate(1, [])


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (5, [0, 0], [3, 2]),
        (6, [0, 0, 0], [2, 2, 2]),
        (0, [0, 0], [0, 0]),
        (1, [0, 0, 0], [1, 0, 0]),
    ],
)
def test_allocate_all_zero_weights_splits_equally(
    total: int, weights: list[int], expected: list[int]
) -> None:
    # given lines that all carry zero weight
    # when
    shares = allocate(total, weights)
    # then the amount is split equally, extra fen to the earliest lines
    assert shares == expected


def test_allocate_refuses_negative_total() -> None:
    # given a negative total
    # when / then
    with pytest.raises(MoneyError, match="negative"):
        allocate(-1, [1, 1])


def test_allocate_refuses_negative_weight() -> None:
    # given one negative weight (even if the sum is positive)
    # when / then
    with pytest.raises(MoneyError, match="non-negative"):
        allocate(10, [5, -1])


weights_lists = st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=30)


@given(amounts, weights_lists)
def test_allocate_properties(total: int, weights: list[int]) -> None:
    # given any total and non-negative weights
    # when
    shares = allocate(total, weights)
    # then one share per weight, summing to the total, never negative
    assert len(shares) == len(weights)
    assert sum(shares) == total
    assert all(share >= 0 for share in shares)
    assert all(type(share) is int for share in shares)
    # and each share is within 1 fen of its exact proportional value
    weight_sum = sum(weights)
    effective = weights if weight_sum else [1] * len(weights)
    effective_sum = sum(effective)
    for share, weight in zip(shares, effective, strict=True):
        exact = Fraction(total * weight, effective_sum)
        assert abs(share - exact) < 1
        # largest remainder: floor or floor + 1, never anything else
        assert share - (total * weight // effective_sum) in (0, 1)


@given(amounts, weights_lists)
def test_allocate_gives_nothing_to_zero_weight_lines(total: int, weights: list[int]) -> None:
    # given at least one line with weight
    if sum(weights) == 0:
        weights = [*weights, 1]
    # when
    shares = allocate(total, weights)
    # then lines without weight get nothing
    for share, weight in zip(shares, weights, strict=True):
        if weight == 0:
            assert share == 0


@given(amounts, weights_lists)
def test_allocate_is_monotonic_in_weight(total: int, weights: list[int]) -> None:
    # given any allocation
    # when
    shares = allocate(total, weights)
    # then a heavier line never gets less than a lighter one
    pairs = sorted(zip(weights, shares, strict=True))
    for (w1, s1), (w2, s2) in itertools.pairwise(pairs):
        if w1 < w2:
            assert s1 <= s2


def test_allocate_does_not_mutate_weights() -> None:
    # given a weights list
    weights = [0, 0, 0]
    # when
    allocate(3, weights)
    # then the caller's list is untouched
    assert weights == [0, 0, 0]
