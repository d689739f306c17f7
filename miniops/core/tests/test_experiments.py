import random

import pytest

from miniops.core import experiments
from miniops.core.errors import InvalidInput


def test_assignment_is_stable_and_depends_on_the_key() -> None:
    first = [experiments.in_holdout("campaign:1", m, 10) for m in range(2000)]
    again = [experiments.in_holdout("campaign:1", m, 10) for m in range(2000)]
    other = [experiments.in_holdout("campaign:2", m, 10) for m in range(2000)]
    assert first == again
    assert first != other


@pytest.mark.parametrize("pct", [0, 10, 50, 100])
def test_holdout_share_matches_the_percentage(pct: float) -> None:
    n = 20_000
    held = sum(experiments.in_holdout("c", m, pct) for m in range(n))
    # binomial sd at 50 % is ~71 members; 6 sd either side cannot fail by chance
    assert abs(held - n * pct / 100) <= 6 * (n * 0.25) ** 0.5


def test_arms_follow_their_weights_and_ignore_the_holdout() -> None:
    arms = [("a", 1), ("b", 3)]
    got = [experiments.assign("c", m, arms) for m in range(20_000)]
    assert abs(got.count("b") / len(got) - 0.75) < 0.02
    held = [m for m in range(20_000) if experiments.in_holdout("c", m, 50)]
    share_b_held = sum(experiments.assign("c", m, arms) == "b" for m in held) / len(held)
    assert abs(share_b_held - 0.75) < 0.03


@pytest.mark.parametrize(
    "arms",
    [[], [("a", 0)], [("a", -1)], [("a", 1), ("a", 2)], [("a", float("nan"))], [("a", True)]],
)
def test_bad_arms_are_refused(arms: list) -> None:
    with pytest.raises(InvalidInput):
        experiments.assign("c", 1, arms)


@pytest.mark.parametrize("pct", [-1, 100.5, "10", None, True])
def test_bad_percentages_are_refused(pct: object) -> None:
    with pytest.raises(InvalidInput):
        experiments.in_holdout("c", 1, pct)  # type: ignore[arg-type]


def test_uplift_interval_covers_a_known_effect_about_95_percent_of_the_time() -> None:
    rng = random.Random(7)
    true_effect = 5.0
    covered = 0
    runs = 300
    for _ in range(runs):
        control = [max(0.0, rng.gauss(20, 15)) * (rng.random() < 0.3) for _ in range(400)]
        treated = [
            max(0.0, rng.gauss(20, 15)) * (rng.random() < 0.3) + true_effect for _ in range(400)
        ]
        result = experiments.uplift(treated, control)
        assert result.low is not None
        assert result.high is not None
        covered += result.low <= true_effect <= result.high
    assert 0.90 <= covered / runs <= 0.99


def test_proportion_uplift_covers_a_known_effect() -> None:
    rng = random.Random(11)
    p_c, p_t = 0.10, 0.13
    covered = 0
    runs = 300
    for _ in range(runs):
        n = 2000
        hits_t = sum(rng.random() < p_t for _ in range(n))
        hits_c = sum(rng.random() < p_c for _ in range(n))
        result = experiments.proportion_uplift(hits_t, n, hits_c, n)
        assert result.low is not None
        assert result.high is not None
        covered += result.low <= p_t - p_c <= result.high
    assert 0.90 <= covered / runs <= 0.99


def test_small_groups_have_no_interval_and_bad_counts_are_refused() -> None:
    result = experiments.uplift([3.0], [1.0, 2.0])
    assert result.diff == pytest.approx(1.5)
    assert result.low is None
    assert not result.significant
    with pytest.raises(InvalidInput):
        experiments.proportion_uplift(5, 3, 0, 10)
    with pytest.raises(InvalidInput):
        experiments.uplift([1.0], [1.0], confidence=1.5)
    empty = experiments.proportion_uplift(0, 0, 0, 0)
    assert empty.diff == 0
    assert empty.low is None
