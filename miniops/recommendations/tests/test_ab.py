"""The online A/B effect: recommendations against popularity only, on the holdout
the push campaigns use (``core.experiments.in_holdout``), measured from exposure.

The known-effect fixture does not draw outcomes at random: in each group exactly
the planned share converts, so the true effect is known to the member whatever ids
the database hands out (a random draw per member made the push results test
depend on the id sequence, and fail one run in twenty on PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.utils import timezone, translation

from miniops.analytics.models import Event
from miniops.core import experiments
from miniops.core.errors import InvalidInput
from miniops.members.models import Member
from miniops.orders.models import Order
from miniops.recommendations import selectors, services
from miniops.recommendations.models import RecsSettings
from miniops.recommendations.tests.test_serving import co_purchases, shop
from miniops.testing import factories

pytestmark = pytest.mark.django_db

CONFIRM = {"_form_submitted": "on"}
TREATED_RATE, CONTROL_RATE = 0.30, 0.20  # the effect put in: +10 points of conversion
ORDER_GMV = 10_000  # fen


def _split(holdout_pct: int, *, enabled: bool = True) -> None:
    services.update_settings(
        actor=factories.operator_with_role("ops_manager"),
        category_cap=3,
        repurchase_days=30,
        consumable_categories=[],
        experiment_enabled=enabled,
        holdout_pct=holdout_pct,
    )


def _impression(member_id: int | None, at: datetime, arm: str) -> Event:
    return Event(
        uuid=str(uuid.uuid4()),
        name="recs_impression",
        member_id=member_id,
        ts=at,
        day=at.date(),
        received_at=at,
        properties={"surface": "for_you", "arm": arm, "items": [1, 2], "sources": ["als"] * 2},
    )


def _order(member_id: int, paid_at: datetime, amount: int = ORDER_GMV, refunded: int = 0) -> Order:
    return factories.paid_order_row(member_id, paid_at, amount, refunded=refunded)


def test_the_held_out_share_follows_the_setting_and_each_visitor_keeps_their_arm() -> None:
    _split(20)
    units = [f"m:{i}" for i in range(1, 10_001)]
    held = sum(selectors.arm_of_unit(u, 20) == selectors.CONTROL for u in units)
    assert 0.18 < held / len(units) < 0.22
    # the same hash as the push holdout, and stable from call to call
    for i in range(1, 200):
        arm = selectors.arm_for(member_id=i, anonymous_id=None)
        assert arm == selectors.arm_for(member_id=i, anonymous_id=None)
        assert (arm == selectors.CONTROL) == experiments.in_holdout(
            selectors.EXPERIMENT_KEY, f"m:{i}", 20
        )
    # a larger holdout only adds members to it: nobody held out at 20 % is treated at 40 %
    assert all(
        selectors.arm_of_unit(u, 40) == selectors.CONTROL
        for u in units
        if selectors.arm_of_unit(u, 20) == selectors.CONTROL
    )
    _split(20, enabled=False)
    assert {selectors.arm_for(member_id=i, anonymous_id=None) for i in range(1, 200)} == {
        selectors.TREATED
    }


def test_the_api_serves_and_records_the_arm_of_the_holdout(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    co_purchases(shop())
    services.train(actor=None)
    _split(50)
    seen = set()
    for _ in range(12):
        member = factories.member()
        access, _refresh = factories.member_tokens(member)
        with django_capture_on_commit_callbacks(execute=True):
            body = client.get(
                "/api/v1/recommendations", {"limit": 4}, HTTP_AUTHORIZATION=f"Bearer {access}"
            ).json()
        expected = selectors.arm_for(member_id=member.pk, anonymous_id=None)
        assert body["arm"] == expected
        shown = Event.objects.get(uuid=body["impression_id"])
        assert shown.member_id == member.pk
        assert shown.properties["arm"] == expected
        seen.add(expected)
    assert seen == {selectors.TREATED, selectors.CONTROL}  # 12 members, 50 %: both arms


def test_the_report_recovers_a_known_effect() -> None:
    n = 2000
    _split(30)
    Member.objects.bulk_create(Member(openid=f"oAB{i:06d}", nickname=f"ab{i}") for i in range(n))
    ids = sorted(Member.objects.values_list("pk", flat=True))
    now = timezone.now()
    exposed_at = now - timedelta(days=10)
    arms = {pk: selectors.arm_of_unit(f"m:{pk}", 30) for pk in ids}
    members = {arm: [pk for pk in ids if arms[pk] == arm] for arm in selectors.ARMS}
    converters = {
        selectors.TREATED: members[selectors.TREATED][
            : round(TREATED_RATE * len(members[selectors.TREATED]))
        ],
        selectors.CONTROL: members[selectors.CONTROL][
            : round(CONTROL_RATE * len(members[selectors.CONTROL]))
        ],
    }
    events = [
        _impression(pk, exposed_at + timedelta(minutes=i % 600), arms[pk])
        for i, pk in enumerate(ids)
    ]
    # a later list does not move anyone, an anonymous list and one before the period
    # count for nobody
    events += [_impression(pk, now - timedelta(days=1), arms[pk]) for pk in ids[:50]]
    events.append(_impression(None, exposed_at, selectors.TREATED))
    orders = [
        _order(pk, exposed_at + timedelta(days=2)) for arm in converters for pk in converters[arm]
    ]
    # outside each member's 7 days (before the first list, after the window): not counted
    late, early = members[selectors.CONTROL][-1], members[selectors.CONTROL][-2]
    orders.append(_order(late, exposed_at + timedelta(days=7, hours=11)))
    orders.append(_order(early, exposed_at - timedelta(days=1)))
    # a partly refunded order counts as converted, its GMV net of the refund
    refunded = members[selectors.TREATED][-1]
    orders.append(_order(refunded, exposed_at + timedelta(days=3), amount=8_000, refunded=3_000))
    Event.objects.bulk_create(events)
    Order.objects.bulk_create(orders)

    report = selectors.ab_report(days=30)
    treated, control = report["groups"][selectors.TREATED], report["groups"][selectors.CONTROL]
    n_t, n_c = len(members[selectors.TREATED]), len(members[selectors.CONTROL])
    assert (treated["units"], control["units"]) == (n_t, n_c)
    assert 0.27 < n_c / n < 0.33
    c_t = len(converters[selectors.TREATED]) + 1  # + the refunded order's member
    c_c = len(converters[selectors.CONTROL])
    assert (treated["converted"], control["converted"]) == (c_t, c_c)
    assert (treated["orders"], control["orders"]) == (c_t, c_c)
    assert treated["gmv"] == (c_t - 1) * ORDER_GMV + 5_000
    assert control["gmv"] == c_c * ORDER_GMV
    assert report["moved"] == 0
    conversion = report["conversion"]
    assert conversion.diff == pytest.approx(c_t / n_t - c_c / n_c)
    assert conversion.low < TREATED_RATE - CONTROL_RATE < conversion.high
    assert conversion.significant
    gmv = report["gmv"]
    assert gmv.diff == pytest.approx(treated["gmv"] / n_t - control["gmv"] / n_c)
    assert gmv.low < (TREATED_RATE - CONTROL_RATE) * ORDER_GMV < gmv.high
    assert report["incremental_gmv"] == pytest.approx(gmv.diff * n_t)
    # a period that ends before every list: nobody
    empty = selectors.ab_report(period=(now - timedelta(days=60), now - timedelta(days=40)))
    assert empty["groups"][selectors.TREATED]["units"] == 0
    assert not empty["measurable"]
    assert empty["incremental_gmv"] is None


def test_the_first_list_decides_the_group() -> None:
    a, b = factories.member(), factories.member()
    now = timezone.now()
    Event.objects.bulk_create(
        [
            _impression(a.pk, now - timedelta(days=3), selectors.CONTROL),
            _impression(a.pk, now - timedelta(days=2), selectors.TREATED),  # moved later
            _impression(b.pk, now - timedelta(days=2), "bogus"),  # not an arm: ignored
        ]
    )
    report = selectors.ab_report(days=30)
    assert report["groups"][selectors.CONTROL]["units"] == 1
    assert report["groups"][selectors.TREATED]["units"] == 0
    assert report["moved"] == 1


def test_settings_refuse_a_holdout_out_of_range() -> None:
    for bad in (0, 91, -5, True, 2.5, "20"):
        with pytest.raises(InvalidInput):
            _split(bad)  # type: ignore[arg-type]
    assert not RecsSettings.objects.exists()
    _split(25)
    assert RecsSettings.objects.get().holdout_pct == 25


def test_the_console_sets_the_holdout_and_shows_the_effect(console_as: Any) -> None:
    shop(1, 1)
    client = console_as("ops_manager")
    client.raise_request_exception = False
    url = "/console/recommendations/rule/settings/"
    form = {**CONFIRM, "category_cap": 3, "repurchase_days": 30, "experiment_enabled": "on"}
    for bad in ("0", "91", "x", ""):
        client.post(url, {**form, "holdout_pct": bad})
    assert not RecsSettings.objects.exists()
    assert client.post(url, {**form, "holdout_pct": "20"}).status_code == 302
    row = RecsSettings.objects.get()
    assert (row.experiment_enabled, row.holdout_pct) == (True, 20)
    entry = LogEntry.objects.filter(
        actor=client.operator, content_type=ContentType.objects.get_for_model(RecsSettings)
    ).latest("timestamp")
    assert "holdout_pct" in entry.changes_dict or entry.action == LogEntry.Action.CREATE
    # read-only roles change nothing
    analyst = console_as("analyst")
    analyst.raise_request_exception = False
    assert analyst.post(url, {**form, "holdout_pct": "50"}).status_code == 403
    assert RecsSettings.objects.get().holdout_pct == 20

    now = timezone.now()
    people = [factories.member() for _ in range(6)]
    arms = [selectors.TREATED] * 3 + [selectors.CONTROL] * 3
    Event.objects.bulk_create(
        [
            _impression(m.pk, now - timedelta(days=2), arm)
            for m, arm in zip(people, arms, strict=True)
        ]
    )
    Order.objects.bulk_create([_order(people[0].pk, now - timedelta(days=1))])
    for language, words in (("en", "Members shown a list"), ("zh-hans", "看到推荐列表的会员")):
        with translation.override(language):
            page = client.get("/console/recommendations/evaluation/", HTTP_ACCEPT_LANGUAGE=language)
        assert page.status_code == 200
        html = page.content.decode()
        assert 'id="recs-ab-table"' in html
        assert words in html
        assert 'data-arm="popular"' in html
        assert "¥100.00" in html  # the treated group's GMV
        assert "[" in html.split('data-effect="conversion">')[1].split("<")[0]
