"""Random assignment and measured effect: holdouts, A/B arms and uplift intervals.

Every campaign (a push, a coupon, a reward rule, a recommender variant) that wants
to know what it *caused* holds out a random control group and compares. The
assignment is a stable hash of the experiment key and the unit (usually a member
id), so the same member lands in the same group on every call, in every process,
without storing anything first — callers record the assignment at send time for
the report. Holdout and arm assignment use different salts, so which arm a member
gets is independent of whether they are held out.

The intervals are the textbook ones, stated so a report can say which it used:

* ``uplift``: difference of two means with Welch's (unpooled) standard error and a
  normal critical value — right for per-member GMV once each group has a few
  dozen members;
* ``proportion_uplift``: difference of two proportions with the unpooled (Wald)
  standard error — per-member conversion.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

from django.utils.translation import gettext_lazy as _

from miniops.core.errors import InvalidInput

_SCALE = float(2**64)


def bucket(experiment_key: str, unit_id: int | str, *, salt: str = "") -> float:
    """A number in [0, 1) fixed by the key, the unit and the salt."""
    digest = hashlib.sha256(f"{experiment_key}\x1f{salt}\x1f{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def in_holdout(experiment_key: str, unit_id: int | str, pct: float) -> bool:
    """Whether ``unit_id`` belongs to the control group of ``pct`` percent (0–100)."""
    if isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 <= pct <= 100:
        raise InvalidInput(fields={"holdout_pct": _("A percentage from 0 to 100.")})
    return bucket(experiment_key, unit_id, salt="holdout") < pct / 100


def assign(experiment_key: str, unit_id: int | str, arms: Sequence[tuple[str, float]]) -> str:
    """The arm of ``unit_id`` among ``arms`` ((name, weight) pairs, weights > 0)."""
    if not arms:
        raise InvalidInput(fields={"arms": _("At least one arm.")})
    names = [name for name, _weight in arms]
    if len(set(names)) != len(names):
        raise InvalidInput(fields={"arms": _("Arm names must differ.")})
    weights = [weight for _name, weight in arms]
    if any(
        isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w <= 0
        for w in weights
    ):
        raise InvalidInput(fields={"arms": _("Every arm needs a positive weight.")})
    point = bucket(experiment_key, unit_id, salt="arms") * sum(weights)
    running = 0.0
    for name, weight in arms:
        running += weight
        if point < running:
            return name
    return names[-1]


@dataclass(frozen=True)
class Uplift:
    """Treatment minus control, with its interval (``low``/``high`` are None when a
    group is too small to estimate a spread)."""

    diff: float
    low: float | None
    high: float | None
    n_treated: int
    n_control: int
    mean_treated: float
    mean_control: float
    confidence: float
    method: str

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    @property
    def relative(self) -> float | None:
        """``diff`` as a share of the control mean (None when the control mean is 0)."""
        return self.diff / self.mean_control if self.mean_control else None


def _z(confidence: float) -> float:
    if isinstance(confidence, bool) or not 0 < confidence < 1:
        raise InvalidInput(fields={"confidence": _("A number between 0 and 1.")})
    return NormalDist().inv_cdf((1 + confidence) / 2)


def _mean_var(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = math.fsum(values) / n if n else 0.0
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else math.nan
    return mean, var


def uplift(
    treated_values: Iterable[float], control_values: Iterable[float], *, confidence: float = 0.95
) -> Uplift:
    """Difference of means (treated − control) with a Welch normal interval.

    Pass one value per member of each group, zeros included (a member who bought
    nothing contributes 0 GMV)."""
    z = _z(confidence)
    treated = [float(v) for v in treated_values]
    control = [float(v) for v in control_values]
    mean_t, var_t = _mean_var(treated)
    mean_c, var_c = _mean_var(control)
    diff = mean_t - mean_c
    low = high = None
    if len(treated) > 1 and len(control) > 1:
        se = math.sqrt(var_t / len(treated) + var_c / len(control))
        low, high = diff - z * se, diff + z * se
    return Uplift(
        diff=diff,
        low=low,
        high=high,
        n_treated=len(treated),
        n_control=len(control),
        mean_treated=mean_t,
        mean_control=mean_c,
        confidence=confidence,
        method="welch-normal",
    )


def proportion_uplift(
    converted_treated: int,
    n_treated: int,
    converted_control: int,
    n_control: int,
    *,
    confidence: float = 0.95,
) -> Uplift:
    """Difference of conversion rates (treated − control) with the unpooled
    normal (Wald) interval."""
    z = _z(confidence)
    for name, hits, n in (
        ("treated", converted_treated, n_treated),
        ("control", converted_control, n_control),
    ):
        if n < 0 or hits < 0 or hits > n:
            raise InvalidInput(
                fields={name: _("Conversions must be between 0 and the group size.")}
            )
    p_t = converted_treated / n_treated if n_treated else 0.0
    p_c = converted_control / n_control if n_control else 0.0
    diff = p_t - p_c
    low = high = None
    if n_treated and n_control:
        se = math.sqrt(p_t * (1 - p_t) / n_treated + p_c * (1 - p_c) / n_control)
        low, high = diff - z * se, diff + z * se
    return Uplift(
        diff=diff,
        low=low,
        high=high,
        n_treated=n_treated,
        n_control=n_control,
        mean_treated=p_t,
        mean_control=p_c,
        confidence=confidence,
        method="wald-normal",
    )
