"""Money is an integer number of fen (1 yuan = 100 fen), never a float.

Helpers here convert at the edges (yuan strings typed by operators, display) and
split amounts exactly (refunds and discounts allocated across order lines).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import NewType

Fen = NewType("Fen", int)

#: Largest amount accepted anywhere (1 billion yuan): far above any real order,
#: far below 64-bit overflow when summed.
MAX_FEN = 100_000_000_000


class MoneyError(ValueError):
    pass


def fen(value: int) -> Fen:
    """Validate an integer amount in fen."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MoneyError("amount must be an integer number of fen")
    if value < 0 or value > MAX_FEN:
        raise MoneyError("amount out of range")
    return Fen(value)


def yuan_to_fen(value: str | int | Decimal) -> Fen:
    """Parse a yuan amount such as ``"12.5"`` or ``"12.50"`` into fen, exactly.

    Floats are refused: ``0.1 + 0.2`` is how money goes missing.
    """
    if isinstance(value, float):
        raise MoneyError("floats are not accepted for money; pass a string or Decimal")
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation as exc:
        raise MoneyError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise MoneyError("amount must be finite")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise MoneyError("at most two decimal places")
    return fen(int(amount * 100))


def fen_to_yuan(amount: int) -> str:
    """``1234`` -> ``"12.34"`` (negative amounts keep their sign)."""
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{whole}.{cents:02d}"


def format_fen(amount: int) -> str:
    """``123456`` -> ``"¥1,234.56"`` for display."""
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def percent_of(amount: int, percent: Decimal | int | str) -> Fen:
    """``percent`` % of ``amount`` fen, rounded half up to the fen."""
    result = (Decimal(amount) * Decimal(str(percent)) / Decimal(100)).quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    return Fen(int(result))


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` fen across ``weights`` proportionally, summing exactly to ``total``.

    Largest-remainder method: every share is floor(total * w / sum), then the fen
    left over go to the largest remainders (earliest first on ties). Used to spread
    an order discount or a partial refund over its lines.
    """
    if total < 0:
        raise MoneyError("cannot allocate a negative amount")
    if not weights:
        if total:
            raise MoneyError("nothing to allocate to")
        return []
    if any(w < 0 for w in weights):
        raise MoneyError("weights must be non-negative")
    weight_sum = sum(weights)
    if weight_sum == 0:
        # Equal split when no line carries weight.
        weights = [1] * len(weights)
        weight_sum = len(weights)
    shares = [total * w // weight_sum for w in weights]
    remainders = [(total * w % weight_sum, -i) for i, w in enumerate(weights)]
    left = total - sum(shares)
    for _, neg_index in sorted(remainders, reverse=True)[:left]:
        shares[-neg_index] += 1
    return shares
