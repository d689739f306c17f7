"""On PostgreSQL with real threads: two campaigns racing for one one-time consent
send once; two workers draining one campaign send each row once."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection

from miniops.core.ledger import LedgerState
from miniops.notifications.models import Consent, Delivery
from miniops.notifications.services import campaigns, sending
from miniops.notifications.tests.engine import audience, campaign
from miniops.testing.fake_wechat import SubscribeState

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL"
    ),
    pytest.mark.django_db(transaction=True),
]


def _together(jobs: list[Any]) -> None:
    gate = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Any) -> None:
        try:
            gate.wait()
            for _ in range(20):
                if not job():
                    break
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors


def test_two_campaigns_racing_for_one_consent_send_once(wechat: SubscribeState) -> None:
    wechat.strict_consent = False  # WeChat would let both through: the ledger must not
    for round_ in range(5):
        (person,) = audience(1, tag=f"r{round_}")
        rows = [campaign(name=f"c{round_}-{i}", audience=f"tag:r{round_}") for i in range(2)]
        for row in rows:
            campaigns.start(campaign=row, actor=None)

        def drain_one(row: Any) -> Any:
            def job() -> int:
                return sending.send_due(
                    queryset=Delivery.objects.filter(campaign=row), limit=10
                ).claimed

            return job

        _together([drain_one(row) for row in rows])
        reasons = Counter(Delivery.objects.filter(member=person).values_list("reason", flat=True))
        assert reasons == {"sent": 1, "no_consent": 1}
        assert Consent.objects.get(member=person).remaining == 0
    assert len(wechat.receipts) == 5


def test_two_workers_send_each_row_once(wechat: SubscribeState) -> None:
    audience(60, grant=wechat)
    row = campaign()
    campaigns.start(campaign=row, actor=None)
    _together([lambda: sending.send_due(limit=7).claimed for _ in range(2)])
    assert Delivery.objects.filter(campaign=row, state=LedgerState.DONE).count() == 60
    openids = [r["openid"] for r in wechat.receipts]
    assert len(openids) == len(set(openids)) == 60


def test_threads_of_two_workers_send_each_row_once_and_one_consent_once(
    wechat: SubscribeState,
) -> None:
    """Two workers, each dealing its batches to 8 threads, drain two campaigns to
    the same audience with one one-time consent each: every member gets exactly
    one message, every row ends final, the threads' counts add up."""
    wechat.strict_consent = False  # WeChat would let both through: the ledger must not
    people = audience(80, grant=wechat, tag="threads")
    rows = [campaign(name=f"t{i}", audience="tag:threads") for i in range(2)]
    for row in rows:
        campaigns.start(campaign=row, actor=None)
    claimed: list[int] = []

    def job() -> int:
        result = sending.send_due(limit=25, threads=8)
        claimed.append(result.claimed)
        assert result.claimed == result.done + result.retried + result.failed + result.lost
        return result.claimed

    _together([job, job])
    assert sum(claimed) >= 160
    reasons = Counter(Delivery.objects.filter(campaign__in=rows).values_list("reason", flat=True))
    assert reasons == {"sent": 80, "no_consent": 80}
    openids = [r["openid"] for r in wechat.receipts]
    assert len(openids) == len(set(openids)) == len(people) == 80
    assert not Consent.objects.filter(member__in=people, remaining__gt=0).exists()


def test_two_scans_racing_answer_each_reminder_request_once(wechat: SubscribeState) -> None:
    """Two ticks scanning the same back-in-stock requests at once, two campaigns
    running: every request gets one delivery row, of one campaign."""
    from miniops.catalog import services as catalog
    from miniops.catalog.models import StockReason
    from miniops.notifications.models import Watch, WatchKind
    from miniops.notifications.services import watches
    from miniops.testing import factories

    template = factories.message_template("SIM-cart-reminder")
    people = audience(30, tag="stock", template=template, remaining=2)
    sku = factories.product(stock=0).skus.get()
    for person in people:
        watches.watch(member=person, kind=WatchKind.BACK_IN_STOCK, ref=sku.pk)
    for i in range(2):
        row = campaign(
            name=f"s{i}",
            kind="triggered",
            trigger="back_in_stock",
            audience="",
            template=template,
            data={"thing1": "{product}", "thing2": "到货啦"},
        )
        campaigns.start(campaign=row, actor=None)
    catalog.adjust_stock(sku=sku, delta=5, reason=StockReason.ADJUSTMENT, actor=None)
    planned: list[int] = []

    def job() -> int:
        planned.append(campaigns.scan_back_in_stock())
        return 0

    _together([job, job])
    assert sum(planned) == 30
    occurrences = Counter(Delivery.objects.values_list("occurrence", flat=True))
    assert len(occurrences) == 30
    assert set(occurrences.values()) == {1}
    assert not Watch.objects.filter(notified_at__isnull=True).exists()
