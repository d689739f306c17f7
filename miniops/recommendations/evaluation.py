"""Offline evaluation (used by ``bench/bench_recommendations.py`` and by the
shop evaluation each training run records).

- **Time-based split**: train on interactions strictly before ``cut``, test on
  those at or after it (``time_split``; a test checks there is no leakage);
  the test set of a user is the products they interacted with after the cut and
  not before (already-known products are filtered out of every ranking, as
  implicit does).
- **Full catalogue**: every model ranks every product of the training matrix —
  not 100 sampled candidates (Gorse's NDCG@10 ≈ 0.36 is sampled).
- Metrics at K (10): nDCG (binary relevance, log2 discount, ideal over
  min(K, |test|)), hit rate (at least one hit), recall (hits / |test|) and
  catalogue coverage (distinct products in all top-K lists / catalogue).
  ``implicit.evaluation.ranking_metrics_at_k`` is run beside ours for the
  implicit models as a cross-check of nDCG.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from miniops.recommendations import training


@dataclass
class Split:
    train: Any  # users × items CSR (weights)
    test: dict[int, set[int]]  # user → products first seen after the cut
    n_items: int
    train_rows: int
    test_rows: int


def time_split(
    users: np.ndarray,
    items: np.ndarray,
    timestamps: np.ndarray,
    cut: Any,
    weights: np.ndarray | None = None,
) -> Split:
    """Everything before ``cut`` trains; the rest tests (for users and items the
    training part knows). Indices must already be dense (0…n-1)."""
    before = timestamps < cut
    after = ~before
    n_users = int(users.max()) + 1 if len(users) else 0
    n_items = int(items.max()) + 1 if len(items) else 0
    w = weights if weights is not None else np.ones(len(users), dtype=np.float32)
    train = training.matrix(users[before], items[before], w[before], (n_users, n_items))
    known_users = set(np.unique(users[before]).tolist())
    test: dict[int, set[int]] = {}
    tu, ti = users[after].astype(np.int64), items[after].astype(np.int64)
    seen_keys = np.unique(users[before].astype(np.int64) * max(1, n_items) + items[before])
    keep = np.isin(tu, np.array(sorted(known_users), dtype=np.int64)) & ~np.isin(
        tu * max(1, n_items) + ti, seen_keys
    )  # users known before the cut; products they did not know (filtered anyway)
    for u, i in zip(tu[keep].tolist(), ti[keep].tolist(), strict=True):
        test.setdefault(u, set()).add(i)
    rows = sum(len(products) for products in test.values())  # distinct pairs
    return Split(train, test, n_items, int(before.sum()), rows)


def metrics(
    top: dict[int, list[int]], test: dict[int, set[int]], n_items: int, k: int = 10
) -> dict[str, float]:
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ndcg = hits = recall = 0.0
    shown: set[int] = set()
    for user, relevant in test.items():
        ranked = top.get(user, [])[:k]
        shown.update(ranked)
        gains = np.array([1.0 if item in relevant else 0.0 for item in ranked])
        dcg = float((gains * discounts[: len(gains)]).sum()) if len(gains) else 0.0
        ideal = float(discounts[: min(k, len(relevant))].sum())
        ndcg += dcg / ideal if ideal else 0.0
        found = gains.sum()
        hits += 1.0 if found else 0.0
        recall += found / len(relevant)
    n = max(1, len(test))
    return {
        "ndcg": ndcg / n,
        "hit_rate": hits / n,
        "recall": recall / n,
        "coverage": len(shown) / max(1, n_items),
        "users": float(len(test)),
    }


def _recommend_all(model: Any, train: Any, users: list[int], k: int) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    ids = np.array(users, dtype=np.int32)
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        found, _scores = model.recommend(chunk, train[chunk], N=k, filter_already_liked_items=True)
        for u, row in zip(chunk.tolist(), found.tolist(), strict=True):
            out[u] = [i for i in row if i >= 0]
    return out


def popularity_top(train: Any, users: list[int], k: int) -> dict[int, list[int]]:
    """Most users first, each user's known products skipped."""
    counts = np.asarray((train > 0).sum(axis=0)).ravel()
    order = np.argsort(-counts, kind="stable")
    out: dict[int, list[int]] = {}
    for u in users:
        known = set(train.indices[train.indptr[u] : train.indptr[u + 1]].tolist())
        picked: list[int] = []
        for i in order:
            if int(i) not in known:
                picked.append(int(i))
                if len(picked) == k:
                    break
        out[u] = picked
    return out


def random_top(train: Any, users: list[int], k: int, seed: int = 7) -> dict[int, list[int]]:
    rng = np.random.default_rng(seed)
    out: dict[int, list[int]] = {}
    n = train.shape[1]
    for u in users:
        known = set(train.indices[train.indptr[u] : train.indptr[u + 1]].tolist())
        picked: list[int] = []
        while len(picked) < min(k, n - len(known)):
            i = int(rng.integers(n))
            if i not in known and i not in picked:
                picked.append(i)
        out[u] = picked
    return out


def compare(
    split: Split,
    *,
    k: int = 10,
    als_factors: int = training.ALS_FACTORS,
    als_iterations: int = training.ALS_ITERATIONS,
) -> dict[str, Any]:
    """item-kNN, ALS, popularity and random on one split, side by side."""
    users = sorted(split.test)
    train = split.train.tocsr()
    results: dict[str, Any] = {}

    def run(
        name: str, fit: Callable[[], Any] | None, top: Callable[[Any], dict[int, list[int]]]
    ) -> None:
        started = time.perf_counter()
        model = fit() if fit else None
        fitted = time.perf_counter() - started
        lists = top(model)
        results[name] = {
            **metrics(lists, split.test, split.n_items, k),
            "fit_seconds": round(fitted, 2),
            "total_seconds": round(time.perf_counter() - started, 2),
        }
        if model is not None:
            from implicit.evaluation import ranking_metrics_at_k

            test = sp.lil_matrix(train.shape, dtype=np.float32)
            for u, items in split.test.items():
                for i in items:
                    test[u, i] = 1
            check = ranking_metrics_at_k(model, train, test.tocsr(), K=k, show_progress=False)
            results[name]["implicit_ndcg"] = float(check["ndcg"])

    run(
        "item_knn_bm25",
        lambda: training.fit_knn(train),
        lambda m: _recommend_all(m, train, users, k),
    )
    run(
        "als",
        lambda: training.fit_als(train, factors=als_factors, iterations=als_iterations),
        lambda m: _recommend_all(m, train, users, k),
    )
    run("popularity", None, lambda _m: popularity_top(train, users, k))
    run("random", None, lambda _m: random_top(train, users, k))
    return results


def shop_split(
    *, test_days: int = 14, now: Any = None, data: Any = None
) -> tuple[Split, dict[str, Any]]:
    """The shop's own interactions (orders, browsing history, analytics views and
    cart adds), the last ``test_days`` as test; ``data``: already loaded."""
    from miniops.recommendations.interactions import load_interactions

    if data is None:
        data = load_interactions(now)
    user_ids = {u: i for i, u in enumerate(sorted(set(data.users)))}
    product_ids = {p: i for i, p in enumerate(sorted(set(data.products)))}
    users = np.array([user_ids[u] for u in data.users], dtype=np.int64)
    items = np.array([product_ids[p] for p in data.products], dtype=np.int64)
    ages = np.array(data.ages_days, dtype=np.float64)
    weights = np.array(data.weights, dtype=np.float32)
    # time runs forward: "before the cut" is older than test_days
    split = time_split(users, items, -ages, -float(test_days), weights)
    info = {
        "interactions": len(users),
        "users": len(user_ids),
        "products": len(product_ids),
        "test_days": test_days,
        "train_rows": split.train_rows,
        "test_rows": split.test_rows,
        "test_users": len(split.test),
    }
    return split, info


def shop_report(*, test_days: int = 14) -> str:
    split, info = shop_split(test_days=test_days)
    if not split.test:
        return f"demo shop: nothing to test ({info})"
    results = compare(split, als_factors=min(training.ALS_FACTORS, max(4, split.n_items // 4)))
    lines = [f"demo shop: {info}", ""]
    base = results["popularity"]["ndcg"] or 1e-12
    lines.append("| model | nDCG@10 | hit-rate@10 | recall@10 | coverage | × popularity nDCG |")
    lines.append("|---|---|---|---|---|---|")
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['ndcg']:.4f} | {r['hit_rate']:.4f} | {r['recall']:.4f} | "
            f"{r['coverage']:.4f} | {r['ndcg'] / base:.2f} |"
        )
    return "\n".join(lines)
