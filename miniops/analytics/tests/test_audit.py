"""Saved funnels and alert rules: every save and delete goes through a service
that checks ``analytics.alerts`` and leaves an audit row naming the operator; a
rule's webhook URL reaches the audit log only as its host and a fingerprint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.utils import timezone

from miniops.analytics import services
from miniops.analytics.models import AlertRule, Funnel
from miniops.analytics.tests.helpers import seen
from miniops.core.errors import Forbidden, InvalidInput
from miniops.core.masking import redact_url
from miniops.testing import factories

pytestmark = pytest.mark.django_db

BASE = "/console/analytics"
Console = Callable[..., Client]
SECRET = "6b1f0c9e-2d4a-4f7b-9c3e-8a5d7e1f2b3c"
WECOM = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={SECRET}"
FEISHU = "https://open.feishu.cn/open-apis/bot/v2/hook/0f9e8d7c6b5a4f3e2d1c"


def rows_for(model: type[Any], pk: Any) -> list[LogEntry]:
    return list(
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(model), object_pk=str(pk)
        ).order_by("pk")
    )


def funnel_form(**overrides: Any) -> dict[str, Any]:
    return {
        "steps": "page_view\norder_paid",
        "first": "2024-01-01",
        "last": "2024-01-07",
        "window_hours": "24",
        "breakdown": "",
        "name": "首页到付款",
        **overrides,
    }


RULE_FORM = {
    "name": "支付失败过多",
    "metric": "payment_failures",
    "condition": "above",
    "threshold": "10",
    "window_minutes": "5",
    "cooldown_minutes": "30",
    "webhook_url": WECOM,
    "is_active": "on",
}


# --- funnels ---------------------------------------------------------------------------------
def test_saving_changing_and_deleting_a_funnel_are_audited_with_the_operator(
    console_as: Console,
) -> None:
    # given the operations manager on the funnels page, with these events seen
    seen("page_view", "order_paid", "a", "b", "c")
    client = console_as("ops_manager")
    # when a funnel is saved, saved again under its name with other steps, then deleted
    assert client.post(f"{BASE}/funnels/", funnel_form()).status_code == 302
    funnel = Funnel.objects.get()
    assert client.post(f"{BASE}/funnels/", funnel_form(steps="a\nb\nc")).status_code == 302
    assert client.post(f"{BASE}/funnels/", {"delete": funnel.pk}).status_code == 302
    # then three audit rows name the operator: created, steps changed, deleted
    rows = rows_for(Funnel, funnel.pk)
    assert [row.action for row in rows] == [
        LogEntry.Action.CREATE,
        LogEntry.Action.UPDATE,
        LogEntry.Action.DELETE,
    ]
    assert {row.actor_id for row in rows} == {client.operator.pk}
    steps_before, steps_after = rows[1].changes_dict["steps"]
    assert "order_paid" in str(steps_before)
    assert [step["event"] for step in steps_after] == ["a", "b", "c"]
    assert not Funnel.objects.exists()


@pytest.mark.parametrize("role", ["analyst", "customer_service"])
def test_the_funnel_services_refuse_an_operator_without_the_permission(role: str) -> None:
    # given an operator who may read analytics but not save funnels, and a funnel
    reader = factories.operator_with_role(role)
    kept = factories.funnel()
    before = LogEntry.objects.count()
    # when they call the services directly (an API token, a script)
    with pytest.raises(Forbidden):
        services.save_funnel(
            name="x", steps=[{"event": "a"}, {"event": "b"}], window_hours=1, actor=reader
        )
    with pytest.raises(Forbidden):
        services.save_funnel(
            name="x",
            steps=[{"event": "a"}, {"event": "b"}],
            window_hours=1,
            actor=reader,
            funnel_id=kept.pk,
        )
    with pytest.raises(Forbidden):
        services.delete_funnel(funnel=kept, actor=reader)
    # then nothing changed and nothing was logged
    assert list(Funnel.objects.all()) == [kept]
    assert Funnel.objects.get().name == kept.name
    assert LogEntry.objects.count() == before


def test_a_funnel_saved_through_the_api_names_the_token_owner(client: Client) -> None:
    # given a management token with analytics.alerts
    owner = factories.operator_with_role("ops_manager")
    _token, secret = factories.api_token(owner, ["analytics.view", "analytics.alerts"])
    # when a funnel is saved through the API
    response = client.post(
        "/api/v1/manage/analytics/funnels",
        {"name": "接口漏斗", "steps": [{"event": "a"}, {"event": "b"}], "window_hours": 3},
        content_type="application/json",
        headers={"authorization": f"Bearer {secret}"},
    )
    # then its audit row names the token's operator
    assert response.status_code == 201, response.content
    (row,) = rows_for(Funnel, response.json()["id"])
    assert (row.action, row.actor_id) == (LogEntry.Action.CREATE, owner.pk)


# --- alert rules -----------------------------------------------------------------------------
def test_adding_an_alert_rule_is_audited_without_the_webhook_secret(console_as: Console) -> None:
    # given the technical staff
    client = console_as("tech_staff")
    # when they add a rule posting to a WeCom robot
    response = client.post(f"{BASE}/alertrule/add/", RULE_FORM)
    # then it is saved with the full URL (the alert needs it) ...
    assert response.status_code == 302, response.content[:500]
    rule = AlertRule.objects.get()
    assert rule.webhook_url == WECOM
    # ... and the audit row names the operator, keeps the fields, and only the host of the URL
    (row,) = rows_for(AlertRule, rule.pk)
    assert (row.action, row.actor_id) == (LogEntry.Action.CREATE, client.operator.pk)
    changes = row.changes_dict
    assert changes["name"][1] == "支付失败过多"
    assert changes["threshold"][1] == 10
    logged = changes["webhook_url"][1]
    assert logged.startswith("https://qyapi.weixin.qq.com/")
    assert SECRET not in str(row.changes)
    assert SECRET[: len(SECRET) // 2] not in str(row.changes)
    assert "key=" not in str(row.changes)
    assert "last_fired_at" not in changes


def test_changing_and_deleting_an_alert_rule_are_audited(console_as: Console) -> None:
    # given a rule posting to a WeCom robot, and the technical staff
    rule = factories.alert_rule(webhook_url=WECOM, name="旧名字")
    client = console_as("tech_staff")
    # when the rule is moved to a Feishu robot with a new threshold, then deleted
    response = client.post(
        f"{BASE}/alertrule/{rule.pk}/change/",
        {**RULE_FORM, "webhook_url": FEISHU, "threshold": "20"},
    )
    assert response.status_code == 302, response.content[:500]
    response = client.post(f"{BASE}/alertrule/{rule.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    # then the change row shows both hosts (distinct fingerprints), never the tokens
    update, delete = [r for r in rows_for(AlertRule, rule.pk) if r.actor_id == client.operator.pk]
    assert update.action == LogEntry.Action.UPDATE
    before, after = update.changes_dict["webhook_url"]
    assert before.startswith("https://qyapi.weixin.qq.com/")
    assert SECRET not in before
    assert after.startswith("https://open.feishu.cn/")
    assert "0f9e8d7c6b5a" not in after
    assert update.changes_dict["threshold"] == [10, 20]
    assert update.changes_dict["name"] == ["旧名字", "支付失败过多"]
    # and the deletion row too
    assert delete.action == LogEntry.Action.DELETE
    assert "0f9e8d7c6b5a" not in str(delete.changes)
    assert not AlertRule.objects.exists()


def test_deleting_alert_rules_from_the_list_goes_through_the_service(console_as: Console) -> None:
    # given two rules
    rules = [factories.alert_rule(), factories.alert_rule()]
    client = console_as("tech_staff")
    # when both are deleted with the list's bulk action
    response = client.post(
        f"{BASE}/alertrule/",
        {"action": "delete_selected", "_selected_action": [r.pk for r in rules], "post": "yes"},
    )
    # then each has its deletion row naming the operator
    assert response.status_code == 302
    assert not AlertRule.objects.exists()
    for rule in rules:
        actions = [(r.action, r.actor_id) for r in rows_for(AlertRule, rule.pk)]
        assert (LogEntry.Action.DELETE, client.operator.pk) in actions


def test_saving_a_rule_keeps_the_time_it_last_fired() -> None:
    # given a rule that fired a minute ago (the evaluator updates that column itself)
    fired = timezone.now().replace(microsecond=0)
    rule = factories.alert_rule()
    AlertRule.objects.filter(pk=rule.pk).update(last_fired_at=fired)
    # when an operator saves it from a form read before it fired
    services.save_alert_rule(
        actor=factories.operator_with_role("tech_staff"),
        rule=rule,
        name="改名",
        metric=rule.metric,
        condition=rule.condition,
        threshold=5,
    )
    # then the firing time stays (the cool-down still holds)
    rule = AlertRule.objects.get()
    assert (rule.name, rule.threshold, rule.last_fired_at) == ("改名", 5, fired)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"threshold": 10_000_001}, "threshold"),
        ({"threshold": -1}, "threshold"),
        ({"threshold": True}, "threshold"),
        ({"window_minutes": 0}, "window_minutes"),
        ({"window_minutes": 61}, "window_minutes"),
        ({"cooldown_minutes": 1441}, "cooldown_minutes"),
        ({"metric": "revenue"}, "metric"),
        ({"condition": "sideways"}, "condition"),
        ({"name": "  "}, "name"),
        ({"webhook_url": "ftp://robot.example.com/x"}, "webhook_url"),
        ({"webhook_url": "https:///no-host"}, "webhook_url"),
        ({"webhook_url": "https://x.example.com/" + "a" * 200}, "webhook_url"),
    ],
    ids=repr,
)
def test_the_alert_rule_service_refuses_bad_values(fields: dict[str, Any], field: str) -> None:
    data: dict[str, Any] = {
        "name": "规则",
        "metric": "orders",
        "condition": "above",
        "threshold": 3,
        **fields,
    }
    with pytest.raises(InvalidInput) as refused:
        services.save_alert_rule(actor=None, **data)
    assert field in refused.value.fields
    assert not AlertRule.objects.exists()
    assert not LogEntry.objects.exists()


@pytest.mark.parametrize("role", ["analyst", "ops_staff", "finance"])
def test_the_alert_rule_services_refuse_an_operator_without_the_permission(role: str) -> None:
    reader = factories.operator_with_role(role)
    rule = factories.alert_rule(name="留着")
    with pytest.raises(Forbidden):
        services.save_alert_rule(
            actor=reader, name="新规则", metric="orders", condition="above", threshold=1
        )
    with pytest.raises(Forbidden):
        services.save_alert_rule(
            actor=reader, rule=rule, name="改掉", metric="orders", condition="above", threshold=1
        )
    with pytest.raises(Forbidden):
        services.delete_alert_rule(rule=rule, actor=reader)
    assert list(AlertRule.objects.values_list("name", flat=True)) == ["留着"]


# --- the redaction itself --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "kept", "hidden"),
    [
        (WECOM, "https://qyapi.weixin.qq.com/", SECRET),
        (
            "https://oapi.dingtalk.com/robot/send?access_token=abc123def456",
            "https://oapi.dingtalk.com/",
            "abc123def456",
        ),
        (FEISHU, "https://open.feishu.cn/", "0f9e8d7c6b5a"),
        (
            "https://bot:pa55word@hooks.example.com:8443/x",
            "https://hooks.example.com:8443/",
            "pa55word",
        ),
    ],
)
def test_redact_url_keeps_the_host_and_hides_the_credential(
    url: str, kept: str, hidden: str
) -> None:
    redacted = redact_url(url)
    assert redacted.startswith(kept)
    assert hidden not in redacted
    assert redacted == redact_url(url)  # the same URL has the same fingerprint
    assert redacted != redact_url(url + "0")  # another token has another


def test_redact_url_leaves_empty_values() -> None:
    assert redact_url("") == ""
    assert redact_url("None") == "None"
    assert "secret" not in redact_url("not-a-url-secret")
