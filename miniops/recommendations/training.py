"""Fitting the models on interaction arrays (no database here, so the service and
``bench/bench_recommendations.py`` train exactly the same thing).

Item-kNN and ALS are ``implicit``'s (docs/decisions, "recommender"); nothing here hand-writes a
similarity or a factorisation — only the matrices and the top-K extraction.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

NEIGHBORS = 50
ALS_FACTORS = 64
ALS_ITERATIONS = 15
ALS_REGULARIZATION = 0.05
ALS_ALPHA = 2.0
BM25_K1 = 1.2
BM25_B = 0.75


def _quiet_blas() -> None:
    # implicit's ALS wants a single-threaded BLAS (it parallelises itself)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1, "blas")
    except Exception:  # pragma: no cover - threadpoolctl comes with implicit
        logging.getLogger("miniops.recommendations").debug("threadpoolctl unavailable")


def matrix(
    users: np.ndarray, items: np.ndarray, weights: np.ndarray, shape: tuple[int, int]
) -> Any:
    """users × items CSR, duplicate pairs summed."""
    m = sp.coo_matrix(
        (weights.astype(np.float32), (users.astype(np.int32), items.astype(np.int32))),
        shape=shape,
    ).tocsr()
    m.sum_duplicates()
    return m


def fit_knn(user_items: Any, *, neighbors: int = NEIGHBORS) -> Any:
    """``implicit``'s item-kNN with BM25 weighting."""
    from implicit.nearest_neighbours import BM25Recommender

    model = BM25Recommender(K=neighbors + 1, K1=BM25_K1, B=BM25_B, num_threads=0)
    with warnings.catch_warnings():  # implicit converts its own BM25 weights to CSR
        warnings.simplefilter("ignore")
        model.fit(user_items, show_progress=False)
    return model


def fit_als(
    user_items: Any,
    *,
    factors: int = ALS_FACTORS,
    iterations: int = ALS_ITERATIONS,
    regularization: float = ALS_REGULARIZATION,
    alpha: float = ALS_ALPHA,
) -> Any:
    _quiet_blas()
    from implicit.cpu.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(
        factors=factors,
        iterations=iterations,
        regularization=regularization,
        alpha=alpha,
        random_state=42,
    )
    # confidence grows with the weight, damped (log) so bulk buys do not dominate
    model.fit(
        user_items.log1p() if hasattr(user_items, "log1p") else user_items, show_progress=False
    )
    return model


def top_neighbors(model: Any, *, neighbors: int = NEIGHBORS) -> list[tuple[int, int, float, int]]:
    """(item, neighbour, score, rank) from a fitted item-kNN, the item itself left out."""
    sim = model.similarity.tocsr()
    out: list[tuple[int, int, float, int]] = []
    for item in range(sim.shape[0]):
        start, end = sim.indptr[item], sim.indptr[item + 1]
        cols = sim.indices[start:end]
        vals = sim.data[start:end]
        keep = cols != item
        cols, vals = cols[keep], vals[keep]
        if not len(cols):
            continue
        order = np.lexsort((cols, -vals))[:neighbors]
        for rank, j in enumerate(order, start=1):
            if vals[j] > 0:
                out.append((item, int(cols[j]), float(vals[j]), rank))
    return out


@dataclass
class AlsArtefact:
    item_factors: np.ndarray
    product_ids: np.ndarray

    def dumps(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, item_factors=self.item_factors.astype(np.float32), product_ids=self.product_ids
        )
        return buffer.getvalue()


def decayed_scores(
    items: np.ndarray, weights: np.ndarray, ages_days: np.ndarray, *, half_life: float = 2.0
) -> dict[int, float]:
    """Trending: each interaction's weight halved every ``half_life`` days."""
    decayed = weights * np.power(0.5, ages_days / half_life)
    totals: dict[int, float] = {}
    for item, value in zip(items.tolist(), decayed.tolist(), strict=True):
        totals[item] = totals.get(item, 0.0) + value
    return totals
