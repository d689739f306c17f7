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
    while not stop:
        if not sending.send_due(limit=200).claimed:
            time.sleep(0.05)


def _workers(env: dict[str, str], url: str, n: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen([PYTHON, __file__, "--worker", url], cwd=ROOT, env=env) for _ in range(n)
    ]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", default="")
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--kill-members", type=int, default=10_000)
    parser.add_argument("--soak", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=400, help="soak: sends/s the fake allows")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--threads", type=int, default=4, help="MINIOPS_PUSH_THREADS of each worker process"
    )
    args = parser.parse_args()
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

    data = {
        "thing1": "满100减10",
        "amount2": "¥10",
        "date3": "2026年12月31日",
        "thing4": "送你一张券",
    }

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

    # --- baseline: the bare client, 2 threads, no ledger ---------------------------------
    import threading

    base_n = min(max(args.members, 500), 4000)
    client = SubscribeClient(base_url=fake.url)
    for i in range(base_n):
        state.grant(f"oBASE{i}", template.wx_template_id)

    def post(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            client.send(
                openid=f"oBASE{i}",
                template_id=template.wx_template_id,
                data=data,
                page="pages/x?cid=c0",
            )

    t0 = time.monotonic()
    threads = [
        threading.Thread(target=post, args=(k * base_n // 2, (k + 1) * base_n // 2))
        for k in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    baseline = base_n / (time.monotonic() - t0)
    results["baseline_sends_per_s"] = round(baseline)
    state.receipts.clear()

    # --- throughput ------------------------------------------------------------------------
    if args.skip_throughput:
        args.members = 0
    log(f"throughput: {args.members} members, 2 workers")
    members("tp", args.members)
    row = campaign("throughput", "tp")
    procs = _workers(env, fake.url, 2)
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

    # --- kill -9 ----------------------------------------------------------------------------
    log(f"kill -9: {args.kill_members} members")
    state.receipts.clear()
    ids = members("kill", args.kill_members, seed=2)
    row = campaign("kill", "kill")
    procs = _workers(env, fake.url, 2)
    while len(state.receipts) < len(ids) // 3:
        time.sleep(0.05)
    os.kill(procs[0].pid, signal.SIGKILL)
    procs[0].wait()
    log(f"killed one worker at {len(state.receipts)} receipts; restarting it")
    procs[0] = _workers(env, fake.url, 1)[0]
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
    row = campaign("soak", "soak", thing4="{nickname}")
    procs = _workers(env, fake.url, 2)
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
