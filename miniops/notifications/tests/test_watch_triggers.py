"""Behaviour triggers from what members asked for or bought: a flash-sale
reminder, back in stock, a new product in a category the member bought — each
planned into the delivery ledger once, through the "remind me" client API."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from miniops.core.errors import DomainError
from miniops.core.ledger import LedgerState
from miniops.notifications.models import Delivery, Watch, WatchKind
from miniops.notifications.services import campaigns, sending, watches
from miniops.notifications.tests.engine import audience, campaign
from miniops.testing import factories
from miniops.testing.fake_wechat import SubscribeState

pytestmark = pytest.mark.django_db

REMINDER_DATA = {"thing1": "{product}", "date2": "{date}", "phrase3": "即将开始"}
#: back in stock and new products use the "product + hint" template
PRODUCT_DATA = {"thing1": "{product}", "thing2": "到货啦"}


def drain() -> None:
    for _ in range(20):
        if not sending.send_due(limit=100).claimed:
            return


def _ask(api: Client, token: str, body: Any, key: str | None = None) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if key is not False:
        headers["HTTP_IDEMPOTENCY_KEY"] = key or str(uuid.uuid4())
    return api.post("/api/v1/reminders", body, content_type="application/json", **headers)


def test_flash_reminder_through_the_api_sends_once_before_the_start(
    api: Client, wechat: SubscribeState
) -> None:
    template = factories.message_template("SIM-flash-reminder")
    person, other = audience(2, grant=wechat, template=template)
    soon = factories.flash_session(starts_in_minutes=20, name="晚八点秒杀")
    later = factories.flash_session(starts_in_minutes=300)
    reminder = campaign(
        kind="triggered",
        trigger="flash_reminder",
        trigger_value=30,
        audience="",
        template=template,
        data=REMINDER_DATA,
        page="pages/flash/index",
        quiet_policy="drop",
    )
    campaigns.start(campaign=reminder, actor=None)
    token, _ = factories.member_tokens(person)
    key = str(uuid.uuid4())
    first = _ask(api, token, {"kind": "flash_session", "ref": soon.pk}, key)
    assert first.status_code == 201, first.content
    assert first.json()["ask_consent_for"] == []  # the member already consented
    again = _ask(api, token, {"kind": "flash_session", "ref": soon.pk}, key)
    assert again.json()["id"] == first.json()["id"]
    # a new key for the same ask is still the one open request
    assert (
        _ask(api, token, {"kind": "flash_session", "ref": soon.pk}).json()["id"]
        == (first.json()["id"])
    )
    watches.watch(member=person, kind=WatchKind.FLASH_SESSION, ref=later.pk)
    # the other member did not ask: never reminded
    assert campaigns.scan_flash_reminders() == 1
    assert campaigns.scan_flash_reminders() == 0
    assert campaigns.tick()["planned"] == 0
    drain()
    assert len(wechat.receipts) == 1
    receipt = wechat.receipts[0]
    assert receipt["openid"] == person.openid
    assert receipt["data"]["thing1"]["value"] == "晚八点秒杀"
    assert receipt["page"] == f"pages/flash/index?cid=c{reminder.pk}"
    assert other.openid not in {r["openid"] for r in wechat.receipts}
    # the request is answered; the later session's is still open
    assert list(
        Watch.objects.filter(member=person, notified_at__isnull=True).values_list("ref", flat=True)
    ) == [later.pk]
    row = Delivery.objects.get(campaign=reminder)
    assert row.state == LedgerState.DONE
    assert row.reason == "sent"


def test_flash_reminder_refuses_started_sessions_and_deferral(
    api: Client, wechat: SubscribeState
) -> None:
    started = factories.flash_session(starts_in_minutes=-5)
    token, _ = factories.member_tokens(factories.member())
    answer = _ask(api, token, {"kind": "flash_session", "ref": started.pk})
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "already_started"
    assert _ask(api, token, {"kind": "flash_session", "ref": 10**12}).status_code == 404
    assert not Watch.objects.exists()
    reminder = campaign(
        kind="triggered", trigger="flash_reminder", trigger_value=30, audience="", quiet_policy=""
    )
    with pytest.raises(DomainError) as refused:
        campaigns.validate(reminder)
    assert "quiet_policy" in refused.value.fields
    reminder.quiet_policy = "drop"
    reminder.trigger_value = 0
    with pytest.raises(DomainError) as refused:
        campaigns.validate(reminder)
    assert "trigger_value" in refused.value.fields


def test_back_in_stock_once_per_request(api: Client, wechat: SubscribeState) -> None:
    from miniops.catalog import services as catalog
    from miniops.catalog.models import StockReason

    template = factories.message_template("SIM-cart-reminder")
    (person,) = audience(1, grant=wechat, template=template, remaining=2)
    sku = factories.product(stock=0).skus.get()
    stocked = factories.product(stock=5).skus.get()
    token, _ = factories.member_tokens(person)
    in_stock = _ask(api, token, {"kind": "back_in_stock", "ref": stocked.pk})
    assert in_stock.status_code == 409
    assert in_stock.json()["error"]["code"] == "in_stock"
    asked = _ask(api, token, {"kind": "back_in_stock", "ref": sku.pk})
    assert asked.status_code == 201
    # before the campaign runs, the request waits
    back = campaign(
        kind="triggered",
        trigger="back_in_stock",
        audience="",
        template=template,
        data=PRODUCT_DATA,
    )
    campaigns.start(campaign=back, actor=None)
    assert campaigns.scan_back_in_stock() == 0  # still sold out
    catalog.adjust_stock(sku=sku, delta=3, reason=StockReason.ADJUSTMENT, actor=None)
    assert campaigns.scan_back_in_stock() == 1
    assert campaigns.scan_back_in_stock() == 0
    drain()
    assert [r["openid"] for r in wechat.receipts] == [person.openid]
    # sold out again, asked again: a second, separate answer
    catalog.adjust_stock(sku=sku, delta=-3, reason=StockReason.CORRECTION, actor=None)
    assert _ask(api, token, {"kind": "back_in_stock", "ref": sku.pk}).status_code == 201
    catalog.adjust_stock(sku=sku, delta=1, reason=StockReason.ADJUSTMENT, actor=None)
    assert campaigns.scan_back_in_stock() == 1
    drain()
    assert len(wechat.receipts) == 2
    assert Delivery.objects.filter(campaign=back).count() == 2
    assert not Watch.objects.filter(notified_at__isnull=True).exists()


def test_reminders_api_bad_input_and_cancel(api: Client) -> None:
    person = factories.member()
    token, _ = factories.member_tokens(person)
    sku = factories.product(stock=0).skus.get()
    no_key = _ask(api, token, {"kind": "back_in_stock", "ref": sku.pk}, key=False)
    assert no_key.status_code == 400
    assert no_key.json()["error"]["code"] == "idempotency_key_required"
    for body in (
        {"kind": "wishlist", "ref": sku.pk},
        {"kind": "back_in_stock", "ref": -1},
        {"kind": "back_in_stock", "ref": 10**30},
        {"kind": "back_in_stock", "ref": sku.pk, "extra": 1},
        {"kind": "back_in_stock"},
    ):
        answer = _ask(api, token, body)
        assert 400 <= answer.status_code < 500, (body, answer.status_code)
        assert "error" in answer.json()
    assert not Watch.objects.exists()
    assert api.post("/api/v1/reminders", {}, content_type="application/json").status_code == 401
    made = _ask(api, token, {"kind": "back_in_stock", "ref": sku.pk}).json()
    listed = api.get("/api/v1/reminders", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert [r["id"] for r in listed] == [made["id"]]
    stranger, _ = factories.member_tokens(factories.member())
    url = f"/api/v1/reminders/{made['id']}"
    assert api.delete(url, HTTP_AUTHORIZATION=f"Bearer {stranger}").status_code == 404
    assert api.delete(url, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 204
    assert api.delete(url, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 404
    assert not Watch.objects.exists()


def test_new_product_in_a_bought_category(wechat: SubscribeState) -> None:
    template = factories.message_template("SIM-cart-reminder")
    buyer, bystander, owner = audience(3, grant=wechat, template=template)
    shelf = factories.category()
    old = factories.product(category_obj=shelf, stock=10)
    factories.order(buyer=buyer, items=[(old.skus.get(), 1)], paid=True)
    factories.order(buyer=bystander, items=[(factories.product().skus.get(), 1)], paid=True)
    # an unpaid order is not "bought"
    factories.order(buyer=owner, items=[(old.skus.get(), 1)])
    news = campaign(
        kind="triggered",
        trigger="new_product",
        trigger_value=0,
        audience="",
        template=template,
        data=dict(PRODUCT_DATA, thing2="新品上架"),
    )
    campaigns.start(campaign=news, actor=None)
    assert campaigns.scan_new_products() == 0  # nothing listed since the start
    fresh = factories.product(category_obj=shelf, stock=10, title="新款耳机")
    assert campaigns.scan_new_products() == 1
    assert campaigns.scan_new_products() == 0
    # a crash before the watermark moved re-plans nothing
    news.refresh_from_db()
    type(news).objects.filter(pk=news.pk).update(last_run_at=news.started_at)
    assert campaigns.scan_new_products() == 0
    drain()
    assert [r["openid"] for r in wechat.receipts] == [buyer.openid]
    assert wechat.receipts[0]["data"]["thing1"]["value"] == "新款耳机"
    row = Delivery.objects.get(campaign=news)
    assert row.occurrence == f"new:{fresh.pk}"


def test_window_of_the_new_product_trigger(wechat: SubscribeState) -> None:
    from miniops.orders.models import Order

    template = factories.message_template("SIM-cart-reminder")
    (buyer,) = audience(1, grant=wechat, template=template)
    shelf = factories.category()
    bought = factories.order(
        buyer=buyer, items=[(factories.product(category_obj=shelf).skus.get(), 1)], paid=True
    )
    Order.objects.filter(pk=bought.pk).update(paid_at=timezone.now() - timedelta(days=40))
    news = campaign(
        kind="triggered",
        trigger="new_product",
        trigger_value=30,
        audience="",
        template=template,
        data=dict(PRODUCT_DATA, thing2="新品上架"),
    )
    campaigns.start(campaign=news, actor=None)
    factories.product(category_obj=shelf)
    assert campaigns.scan_new_products() == 0  # bought 40 days ago, window 30
    news.trigger_value = 3651
    with pytest.raises(DomainError):
        campaigns.validate(news)
