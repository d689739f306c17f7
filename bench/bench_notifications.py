"""Push delivery: sends/s with 2 workers, kill -9 mid-campaign, a soak at the
rate limit — against a local fake WeChat server (``miniops.testing.fake_wechat``
with the subscribe-message rules: consent enforced as 43101, field rules as 47003,
a per-second rate limit as 45009) on PostgreSQL + Redis.

    .venv/bin/python bench/bench_notifications.py [--members 20000] [--soak 10000] [--threads 4]

* **throughput**: one campaign to ``--members`` members, drained by 2 worker
  processes (``sending.send_due`` in a loop, the real ``SubscribeClient``). The
  baseline, in the same run: the bare client posting the same messages from 2
  threads with no ledger. Figure: ledger sends/s and its ratio to the baseline.
* **kill -9**: another campaign; one worker is killed with SIGKILL when a third
  of the messages are out, restarted, and its dead claims recovered
  (``recover_expired(retry_safe=False)``, lease 5 s). Checked against the fake
  server's receipts: duplicates (an openid received twice), losses (a member
  neither sent, nor in doubt), and how many doubt rows did reach WeChat.
* **soak**: ``--soak`` messages at the fake server's rate limit with random
  consent (a third of the audience has none at WeChat *and* none in the ledger)
  and random field data (nicknames of 1–40 characters in a ``thing``): counts of
  43101 and 47003 at the server must be 0; 45009 answers are retried.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from lib import PYTHON, log, manage, services_env  # noqa: E402

DATABASE = "miniops_bench_notify"


def worker_main(url: str) -> None:
    """A worker process: drain due deliveries until told to stop (SIGTERM)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "miniops.settings")
    django.setup()
    from miniops.notifications.services import sending

    stop = False

    def _term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _term)
    sending.send_due(limit=1)  # connections open, settings read
    ready = os.environ.get("BENCH_READY_DIR")
    if ready:
        Path(ready, str(os.getpid())).touch()
    while not stop:
        if not sending.send_due(limit=200).claimed:
            time.sleep(0.05)


def bare_main(url: str, lo: int, hi: int, threads: int, start_at: float) -> None:
    """The baseline's process: the bare client posting ``oBASE<lo..hi>`` from
    ``threads`` threads (no ledger, no database), starting at ``start_at`` (wall
    clock, so both processes start together after their set-up); prints the
    wall-clock times it began and finished."""
    import threading

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "miniops.settings")
    django.setup()
    from miniops.notifications.providers import SubscribeClient

    client = SubscribeClient(base_url=url)
    client.api.access_token()
    ids = list(range(lo, hi))

    def post(k: int) -> None:
        for i in ids[k::threads]:
            client.send(
                openid=f"oBASE{i}", template_id=BASE_TEMPLATE, data=DATA, page="pages/x?cid=c0"
            )

    time.sleep(max(0.0, start_at - time.time()))
    began = time.time()
    pool = [threading.Thread(target=post, args=(k,)) for k in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    print(f"{began:.3f} {time.time():.3f}", flush=True)


BASE_TEMPLATE = "SIM-coupon-received"
DATA = {
    "thing1": "满100减10",
    "amount2": "¥10",
    "date3": "2026年12月31日",
    "thing4": "送你一张券",
}


def _workers(
    env: dict[str, str], url: str, n: int, *, wait: bool = True
) -> list[subprocess.Popen[bytes]]:
    """``n`` worker processes; with ``wait``, returns once each has set up (Django
    loaded, first query made), so a timing does not include their start."""
    import tempfile

    ready = tempfile.mkdtemp(prefix="bench-ready-")
    procs = [
        subprocess.Popen(
            [PYTHON, __file__, "--worker", url], cwd=ROOT, env={**env, "BENCH_READY_DIR": ready}
        )
        for _ in range(n)
    ]
    deadline = time.monotonic() + 120
    while wait and time.monotonic() < deadline:
        if all(Path(ready, str(proc.pid)).exists() for proc in procs):
            break
        time.sleep(0.05)
    return procs


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", default="")
    parser.add_argument("--bare", default="", help="internal: url,lo,hi,threads")
    parser.add_argument(
        "--campaign",
        type=int,
        default=100_000,
        help="the end-to-end campaign's audience (0: skip); 10 %% held out",
    )
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--kill-members", type=int, default=10_000)
    parser.add_argument("--soak", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=400, help="soak: sends/s the fake allows")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--threads", type=int, default=4, help="MINIOPS_PUSH_THREADS of each worker process"
    )
    args = parser.parse_args()
    if args.bare:
        url, lo, hi, threads, start_at = args.bare.split(",")
        bare_main(url, int(lo), int(hi), int(threads), float(start_at))
        return
    if args.worker:
        worker_main(args.worker)
        return

    env = services_env(DATABASE)
    env["MINIOPS_PROVIDER_WECHAT_SUBSCRIBE"] = "miniops.notifications.providers.SubscribeClient"
    env["MINIOPS_PUSH_LEASE_SECONDS"] = "5"
    env["MINIOPS_PUSH_RATE"] = "100000/s"
    env["MINIOPS_PUSH_THREADS"] = str(args.threads)
    log("migrating the bench database")
    manage(env, "migrate", "--noinput")
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "miniops.settings"
    import django

    django.setup()
    from django.db import connection

    from miniops.members.models import Member, MemberTag
    from miniops.notifications.models import Campaign, Consent, Delivery, MessageTemplate
    from miniops.notifications.providers import SubscribeClient
    from miniops.notifications.services import campaigns, consent, sending
    from miniops.testing.fake_wechat import FakeWeChat, install_subscribe

    fake = FakeWeChat().start()
    fake.keep_requests = False
    state = install_subscribe(fake, strict_consent=True)
    env["WECHAT_API_BASE"] = fake.url
    from django.conf import settings

    settings.WECHAT_API_BASE = fake.url

    log("resetting push data")
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE notifications_delivery, notifications_campaign, notifications_consent "
            "RESTART IDENTITY CASCADE"
        )
    # no quiet hours (a run at night in the business time zone would defer every
    # row to the morning); the caps stay (every run's members are new)
    from miniops.notifications.selectors import push_settings

    quiet = push_settings()
    quiet.quiet_end = quiet.quiet_start
    quiet.save()
    from miniops.notifications.providers import subscribe_provider

    with subscribe_provider.override(SubscribeClient(base_url=fake.url)):
        consent.sync_templates(actor=None)
    template = MessageTemplate.objects.get(wx_template_id="SIM-coupon-received")

    run = f"{int(time.time()) % 100000:05d}"  # fresh members for every run

    def members(tag: str, n: int, *, consent_share: float = 1.0, seed: int = 1) -> list[int]:
        rng = random.Random(seed)
        tag = f"{tag}{run}"
        label, _ = MemberTag.objects.get_or_create(name=tag)
        existing = Member.objects.filter(tags=label).count()
        if existing < n:
            new = [
                Member(openid=f"oB{tag}{i:07d}", nickname="x" * rng.randint(1, 40))
                for i in range(existing, n)
            ]
            Member.objects.bulk_create(new, batch_size=2000)
            ids = list(
                Member.objects.filter(openid__startswith=f"oB{tag}").values_list("pk", flat=True)
            )
            Member.tags.through.objects.bulk_create(
                [Member.tags.through(member_id=i, membertag_id=label.pk) for i in ids],
                batch_size=5000,
                ignore_conflicts=True,
            )
        rows = Member.objects.filter(tags=label).values_list("pk", "openid")
        consents = []
        for pk, openid in rows:
            if rng.random() < consent_share:
                consents.append(Consent(member_id=pk, template=template, remaining=1))
                state.grant(openid, template.wx_template_id)
        Consent.objects.filter(template=template, member__tags=label).delete()
        Consent.objects.bulk_create(consents, batch_size=5000)
        return [pk for pk, _ in rows]

    data = DATA

    def campaign(name: str, tag: str, **extra: object) -> Campaign:
        row = Campaign.objects.create(
            name=name,
            audience=f"tag:{tag}{run}",
            template=template,
            data=dict(data, **extra),
            page="pages/coupon/list",
            holdout_pct=0,
        )
        campaigns.start(campaign=row, actor=None)
        return row

    def drain(row: Campaign, procs: list[subprocess.Popen[bytes]], timeout: float) -> float:
        """Until nothing is queued or held; a dead worker's claims are recovered
        (the periodic ``recover_deliveries`` job's work) once their lease is over."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not Delivery.objects.filter(campaign=row, state__in=["queued", "claimed"]).exists():
                break
            recovered["doubt"] += sending.recover()
            time.sleep(0.2)
        return time.monotonic() - started

    recovered = Counter()

    results: dict[str, object] = {}

    # --- baseline: the bare client, 2 processes x --threads threads, no ledger ---------
    # The same concurrency as the 2 workers, against the same fake server: what the
    # harness itself can do (the fake server's ceiling plus the HTTP client's).
    base_n = min(max(args.members, 2000), 20000)
    for i in range(base_n):
        state.grant(f"oBASE{i}", template.wx_template_id)
    start_at = time.time() + 8  # both processes set up by then
    bare = [
        subprocess.Popen(
            [
                PYTHON,
                __file__,
                "--bare",
                f"{fake.url},{k * base_n // 2},{(k + 1) * base_n // 2},{args.threads},{start_at}",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
        )
        for k in range(2)
    ]
    spans = [
        [float(x) for x in proc.communicate()[0].decode().strip().splitlines()[-1].split()]
        for proc in bare
    ]
    seconds = max(end for _, end in spans) - min(began for began, _ in spans)
    baseline = base_n / seconds
    results["baseline"] = {
        "messages": base_n,
        "sends_per_s": round(baseline),
        "seconds": round(seconds, 2),
        "late_start_s": round(max(b for b, _ in spans) - start_at, 2),
        "receipts": len(state.receipts),
    }
    log(f"baseline: {results['baseline']}")
    state.receipts.clear()

    # --- throughput ------------------------------------------------------------------------
    if args.skip_throughput:
        args.members = 0
    log(f"throughput: {args.members} members, 2 workers")
    members("tp", args.members)
    procs = _workers(env, fake.url, 2)
    row = campaign("throughput", "tp")
    elapsed = drain(row, procs, 1800)
    _stop(procs)
    sent = Delivery.objects.filter(campaign=row, state="done").count()
    results["throughput"] = {
        "sent": sent,
        "seconds": round(elapsed, 1),
        "sends_per_s": round(sent / max(elapsed, 1e-3)),
        "ratio_to_baseline": round(sent / max(elapsed, 1e-3) / baseline, 2),
        "receipts": len(state.receipts),
    }
    log(str(results["throughput"]))

    # --- the 100,000-recipient campaign, end to end -----------------------------------
    if args.campaign:
        log(f"campaign: {args.campaign} members, 10 % held out, 2 workers")
        state.receipts.clear()
        setup = time.monotonic()
        members("camp", args.campaign, seed=4)
        results_setup = round(time.monotonic() - setup, 1)
        timed: dict[str, float] = {}

        def timing(name: str, fn: Any) -> Any:
            def wrapped(*a: Any, **k: Any) -> Any:
                t = time.monotonic()
                try:
                    return fn(*a, **k)
                finally:
                    timed[name] = timed.get(name, 0.0) + time.monotonic() - t

            return wrapped

        plain_audience, plain_plan = campaigns.audience_ids, campaigns.plan
        campaigns.audience_ids = timing("audience", plain_audience)  # type: ignore[assignment]
        campaigns.plan = timing("holdout_and_ledger", plain_plan)  # type: ignore[assignment]
        procs = _workers(env, fake.url, 2)
        t0 = time.monotonic()
        row = Campaign.objects.create(
            name="campaign-100k",
            audience=f"tag:camp{run}",
            template=template,
            data=dict(data),
            page="pages/coupon/list",
            holdout_pct=10,
        )
        started = campaigns.start(campaign=row, actor=None)
        t_start = time.monotonic() - t0
        campaigns.audience_ids, campaigns.plan = plain_audience, plain_plan  # type: ignore[assignment]
        t1 = time.monotonic()
        drain(row, procs, 3600)
        t_send = time.monotonic() - t1
        total = time.monotonic() - t0
        _stop(procs)
        states = Counter(
            Delivery.objects.filter(campaign=row).values_list("group", "state", "reason")
        )
        openids = Counter(r["openid"] for r in state.receipts)
        control = set(
            Delivery.objects.filter(campaign=row, group="control").values_list(
                "member__openid", flat=True
            )
        )
        treatment = started["treatment"]
        done = sum(n for (g, st, _), n in states.items() if g == "treatment" and st == "done")
        doubt = sum(n for (g, st, _), n in states.items() if g == "treatment" and st == "doubt")
        results["campaign"] = {
            "audience": args.campaign,
            "members_setup_s": results_setup,
            "planned": started,
            "phases_s": {
                "audience_resolution": round(timed.get("audience", 0.0), 2),
                "holdout_and_ledger": round(timed.get("holdout_and_ledger", 0.0), 2),
                "start_total (count, resolution, ledger, audit)": round(t_start, 2),
                "sending": round(t_send, 1),
                "total": round(total, 1),
            },
            "sends_per_s": round(done / max(t_send, 1e-3)),
            "states": {"/".join(k): n for k, n in states.items()},
            "receipts": len(state.receipts),
            "duplicates": sum(n - 1 for n in openids.values() if n > 1),
            "losses": treatment - done - doubt,
            "control_messaged": len(control & set(openids)),
        }
        log(str(results["campaign"]))

    # --- kill -9 ----------------------------------------------------------------------------
    log(f"kill -9: {args.kill_members} members")
    state.receipts.clear()
    ids = members("kill", args.kill_members, seed=2)
    procs = _workers(env, fake.url, 2)
    row = campaign("kill", "kill")
    while len(state.receipts) < len(ids) // 3:
        time.sleep(0.05)
    os.kill(procs[0].pid, signal.SIGKILL)
    procs[0].wait()
    log(f"killed one worker at {len(state.receipts)} receipts; restarting it")
    procs[0] = _workers(env, fake.url, 1, wait=False)[0]
    recovered.clear()
    drain(row, procs, 1800)
    _stop(procs)
    states = Counter(Delivery.objects.filter(campaign=row).values_list("state", flat=True))
    openids = Counter(r["openid"] for r in state.receipts)
    duplicates = sum(n - 1 for n in openids.values() if n > 1)
    doubt_openids = set(
        Delivery.objects.filter(campaign=row, state="doubt").values_list(
            "member__openid", flat=True
        )
    )
    reached_doubt = len(doubt_openids & set(openids))
    done_openids = set(
        Delivery.objects.filter(campaign=row, state="done").values_list("member__openid", flat=True)
    )
    losses = len(ids) - states.get("done", 0) - states.get("doubt", 0)
    results["kill9"] = {
        "rows": len(ids),
        "states": dict(states),
        "recovered_to_doubt": recovered["doubt"],
        "receipts": len(state.receipts),
        "duplicates": duplicates,
        "losses": losses,
        "doubt_that_reached_wechat": reached_doubt,
        "done_without_receipt": len(done_openids - set(openids)),
    }
    log(str(results["kill9"]))

    # --- soak at the rate limit ---------------------------------------------------------
    log(f"soak: {args.soak} messages at {args.rate}/s")
    state.receipts.clear()
    state.refused.clear()
    state.rate_limit = args.rate
    env["MINIOPS_PUSH_RATE"] = f"{args.rate}/s"
    members("soak", args.soak, consent_share=0.67, seed=3)
    procs = _workers(env, fake.url, 2)
    row = campaign("soak", "soak", thing4="{nickname}")
    elapsed = drain(row, procs, 3600)
    _stop(procs)
    states = Counter(Delivery.objects.filter(campaign=row).values_list("reason", flat=True))
    results["soak"] = {
        "messages": args.soak,
        "seconds": round(elapsed, 1),
        "reasons": dict(states),
        "refused_at_wechat": dict(state.refused),
        "receipts": len(state.receipts),
        "43101": state.refused.get(43101, 0),
        "47003": state.refused.get(47003, 0),
    }
    log(str(results["soak"]))
    fake.stop()
    import json

    results["threads_per_worker"] = args.threads
    results["load"] = os.getloadavg()
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
