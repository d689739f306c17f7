"""The offline evaluation: the time split leaks nothing, the metrics are right."""

from __future__ import annotations

import numpy as np
import pytest

from miniops.recommendations import evaluation


def test_time_split_has_no_leakage() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    users = rng.integers(0, 200, n)
    items = rng.integers(0, 300, n)
    ts = rng.integers(0, 52, n)
    cut = 48
    split = evaluation.time_split(users, items, ts, cut)
    # every training interaction is before the cut ...
    assert split.train_rows == int((ts < cut).sum())
    train_pairs = set(zip(*split.train.nonzero(), strict=True))
    assert train_pairs == {
        (int(u), int(i)) for u, i, t in zip(users, items, ts, strict=True) if t < cut
    }
    # ... and every test interaction is at or after it, and unknown before it
    after = {(int(u), int(i)) for u, i, t in zip(users, items, ts, strict=True) if t >= cut}
    for user, products in split.test.items():
        for product in products:
            assert (user, product) in after
            assert (user, product) not in train_pairs
    assert split.test_rows == sum(len(p) for p in split.test.values())


def test_metrics_on_a_hand_checked_case() -> None:
    top = {0: [5, 1, 2], 1: [3, 4, 6]}
    test = {0: {1}, 1: {9}}
    m = evaluation.metrics(top, test, n_items=10, k=3)
    assert m["ndcg"] == pytest.approx((1 / np.log2(3)) / 2)
    assert m["hit_rate"] == pytest.approx(0.5)
    assert m["recall"] == pytest.approx(0.5)
    assert m["coverage"] == pytest.approx(0.6)


def test_compare_ranks_the_full_catalogue() -> None:
    rng = np.random.default_rng(5)
    # two clusters of taste: users 0-49 buy items 0-19, users 50-99 buy 20-39
    users, items, ts = [], [], []
    for u in range(100):
        base = 0 if u < 50 else 20
        for _ in range(12):
            users.append(u)
            items.append(base + int(rng.integers(0, 20)))
            ts.append(int(rng.integers(0, 10)))
    split = evaluation.time_split(np.array(users), np.array(items), np.array(ts), 8)
    results = evaluation.compare(split, als_factors=4)
    assert set(results) == {"item_knn_bm25", "als", "popularity", "random"}
    assert results["item_knn_bm25"]["ndcg"] > results["random"]["ndcg"]
    assert results["item_knn_bm25"]["implicit_ndcg"] == pytest.approx(
        results["item_knn_bm25"]["ndcg"], rel=0.05
    )
