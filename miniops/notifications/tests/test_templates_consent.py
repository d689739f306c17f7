"""Templates synced through the provider slot (the real client against the fake
WeChat server), the consent ledger and its API."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from miniops.core.errors import DomainError
from miniops.core.wechat import PlatformError
from miniops.notifications import selectors, services
from miniops.notifications.models import Consent, MessageTemplate, TemplateKind
from miniops.notifications.providers import SubscribeClient, subscribe_provider
from miniops.notifications.tests.helpers import consent, template
from miniops.testing import factories
from miniops.testing.fake_wechat import install_subscribe

pytestmark = pytest.mark.django_db


def test_sync_through_the_real_client(fake_wechat: Any) -> None:
    state = install_subscribe(fake_wechat)
    with subscribe_provider.override(SubscribeClient(base_url=fake_wechat.url)):
        result = services.sync_templates(actor=None)
    assert result["added"] == len(state.templates)
    shipped = MessageTemplate.objects.get(wx_template_id="SIM-order-shipped")
    assert [k["rule"] for k in shipped.keywords] == ["character_string", "thing", "thing", "date"]
    assert shipped.keywords[1]["name"] == "商品名称"
    assert MessageTemplate.objects.get(wx_template_id="SIM-service-reply").kind == (
        TemplateKind.LONG_TERM
    )
    # the account deletes one: it is kept, inactive; a second sync changes nothing else
    state.templates = [t for t in state.templates if t["priTmplId"] != "SIM-cart-reminder"]
    with subscribe_provider.override(SubscribeClient(base_url=fake_wechat.url)):
        again = services.sync_templates(actor=None)
    assert again == {"added": 0, "updated": 0, "removed": 1, "total": len(state.templates)}
    assert not MessageTemplate.objects.get(wx_template_id="SIM-cart-reminder").is_active
    call = fake_wechat.calls("/wxaapi/newtmpl/gettemplate")[0]
    assert call.query["access_token"] == fake_wechat.TOKEN


def test_sync_when_wechat_is_down_is_a_503_not_a_half_write(fake_wechat: Any) -> None:
    fake_wechat.script("/wxaapi/newtmpl/gettemplate", {"errcode": -1, "errmsg": "busy"})
    client = SubscribeClient(base_url=fake_wechat.url)
    with subscribe_provider.override(client), pytest.raises(DomainError) as info:
        services.sync_templates(actor=None)
    assert info.value.status == 503
    assert not MessageTemplate.objects.exists()


def test_sync_needs_the_permission() -> None:
    analyst = factories.operator_with_role("analyst")
    with pytest.raises(DomainError) as info:
        services.sync_templates(actor=analyst)
    assert info.value.status == 403


def test_real_client_send_maps_errors(fake_wechat: Any) -> None:
    state = install_subscribe(fake_wechat, strict_consent=True)
    client = SubscribeClient(base_url=fake_wechat.url)
    data = {"thing1": "满100减10", "amount2": "¥10", "date3": "2026年12月31日", "thing4": "快来"}
    with pytest.raises(PlatformError) as info:
        client.send(openid="o1", template_id="SIM-coupon-received", data=data)
    assert info.value.errcode == 43101
    state.grant("o1", "SIM-coupon-received")
    assert client.send(openid="o1", template_id="SIM-coupon-received", data=data)
    with pytest.raises(PlatformError) as info:
        client.send(
            openid="o1", template_id="SIM-coupon-received", data={**data, "thing1": "x" * 21}
        )
    assert info.value.errcode == 47003
    assert "thing1" in info.value.errmsg
    assert len(state.receipts) == 1


def _report(api: Client, token: str, request_id: str, results: dict[str, str]) -> Any:
    return api.post(
        "/api/v1/subscriptions",
        {"request_id": request_id, "results": results},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_subscriptions_endpoint_is_idempotent(api: Client) -> None:
    one_time = template("SIM-coupon-received")
    long_term = template("SIM-service-reply")
    person = factories.member()
    token, _ = factories.member_tokens(person)
    answer = _report(
        api, token, "r-1", {one_time.wx_template_id: "accept", long_term.wx_template_id: "accept"}
    )
    assert answer.status_code == 200, answer.content
    # the same report again (a retried request) counts once
    assert _report(api, token, "r-1", {one_time.wx_template_id: "accept"}).status_code == 200
    row = Consent.objects.get(member=person, template=one_time)
    assert row.remaining == 1
    assert row.accepted_total == 1
    assert Consent.objects.get(member=person, template=long_term).long_term
    # a second accept: two sends allowed; a reject takes them back
    _report(api, token, "r-2", {one_time.wx_template_id: "acceptWithAudio"})
    assert Consent.objects.get(member=person, template=one_time).remaining == 2
    assert selectors.reachable_counts() == {one_time.pk: 1, long_term.pk: 1}
    _report(api, token, "r-3", {one_time.wx_template_id: "reject"})
    assert Consent.objects.get(member=person, template=one_time).remaining == 0
    listed = api.get("/api/v1/subscriptions", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert {row["template_id"]: row["last_choice"] for row in listed} == {
        one_time.wx_template_id: "reject",
        long_term.wx_template_id: "accept",
    }


@pytest.mark.parametrize(
    "body",
    [
        {"request_id": "r", "results": {}},
        {"request_id": "r", "results": {"NOPE": "accept"}},
        {"request_id": "r", "results": {"SIM-coupon-received": "maybe"}},
        {"request_id": "", "results": {"SIM-coupon-received": "accept"}},
        {"request_id": "a b", "results": {"SIM-coupon-received": "accept"}},
        {"request_id": "r", "results": {"SIM-coupon-received": "accept"}, "extra": 1},
        {"request_id": "r", "results": {f"T{i}": "accept" for i in range(11)}},
        {"request_id": "r", "results": ["SIM-coupon-received"]},
    ],
)
def test_subscriptions_bad_input_is_4xx_and_writes_nothing(api: Client, body: Any) -> None:
    template("SIM-coupon-received")
    token, _ = factories.member_tokens(factories.member())
    answer = api.post(
        "/api/v1/subscriptions",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert 400 <= answer.status_code < 500, answer.content
    assert set(answer.json()) == {"error"}
    assert not Consent.objects.exists()


def test_subscriptions_need_a_member(api: Client) -> None:
    answer = api.post(
        "/api/v1/subscriptions",
        {"request_id": "r", "results": {"x": "accept"}},
        content_type="application/json",
    )
    assert answer.status_code == 401


def test_reachable_counts_per_template() -> None:
    tmpl = template()
    for remaining in (0, 1, 3):
        consent(factories.member(), tmpl, remaining)
    assert selectors.reachable_count(tmpl) == 2


def test_settings_are_validated() -> None:
    with pytest.raises(DomainError) as info:
        services.update_settings(actor=None, daily_cap=1000)
    assert "daily_cap" in info.value.fields
    with pytest.raises(DomainError):
        services.update_settings(actor=None, bogus=1)
    row = services.update_settings(actor=None, daily_cap=3)
    assert selectors.push_settings().daily_cap == 3 == row.daily_cap
