"""Live per-minute counters (from client batches, server events and API errors)
and the alert rules that watch them: thresholds, changes against last week,
cool-downs and webhooks (the outside world stubbed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from auditlog.models import LogEntry
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.utils import timezone

from miniops.analytics import alerts, realtime, selectors, services
from miniops.analytics.middleware import ServerErrorCounter
from miniops.analytics.models import Alert, AlertRule
from miniops.analytics.tests.helpers import MANAGE, batch, bearer, event, ms, row, send, store
from miniops.core import events as core_events
from miniops.core.errors import Forbidden
from miniops.testing import factories

pytestmark = pytest.mark.django_db

BUG_SERVER_VISITORS = (
    "BUG miniops/analytics/services.py count_live (Redis): every stored row adds its "
    "visitor to the live 'visitors' HyperLogLog, server events included, so an operator "
    "shipping orders (order_shipped), WeChat's payment notices (order_paid) or refunds "
    "make their buyers 'live visitors' — the rollups and the no-Redis path "
    "(realtime._from_events, source='client') count only client events; a server event "
    "without a member even adds a phantom visitor 'a'"
)
ON_REDIS = bool(settings.REDIS_URL)
SERVER_EVENT_OF = {metric: name for metric, (_source, name) in realtime.EVENT_METRICS.items()}


def live(metric: str, amount: int, minute: int) -> None:
    """``amount`` of ``metric`` in ``minute``, however old: Redis counters when the
    product runs on Redis, otherwise the events the embedded default reads."""
    if metric == "api_5xx":
        realtime.record(metric, amount, minute=minute)
        return
    if ON_REDIS:
        if metric == "visitors":
            counters = realtime.Batch()
            for n in range(amount):
                counters.visitor(minute, f"a-v{n}")
            counters.flush()
        else:
            realtime.record(metric, amount, minute=minute)
        return
    moment = datetime.fromtimestamp(minute * 60 + 30, tz=UTC)
    if metric == "visitors":
        store(*[row(at=moment, anonymous_id=f"v{n}") for n in range(amount)])
    elif metric == "pageviews":
        store(*[row(at=moment, anonymous_id="v") for _n in range(amount)])
    else:
        name = SERVER_EVENT_OF[metric]
        store(*[row(name, at=moment, member_id=1, source="server") for _n in range(amount)])


class Span:
    """The minutes around a test step (a minute may turn while it runs)."""

    def __init__(self) -> None:
        self.start = realtime.current_minute()

    @property
    def minutes(self) -> range:
        return range(self.start, realtime.current_minute() + 1)

    def total(self, metric: str) -> int:
        return realtime.total(metric, self.minutes)


# --- counters from ingestion ---------------------------------------------------------------------
def test_a_batch_counts_visitors_pageviews_and_pages_live(client: Client) -> None:
    # given
    span = Span()
    # when two visitors send page views and a tap
    send(client, batch([event(path="p/a"), event(path="p/b"), event("tap")], anonymous_id="a1"))
    send(client, batch([event(path="p/a")], anonymous_id="a2"))
    # then
    assert span.total("visitors") == 2
    assert span.total("pageviews") == 3
    assert realtime.top_pages(span.minutes) == [("p/a", 2), ("p/b", 1)]
    assert span.total("orders") == 0


def test_a_resent_batch_is_not_counted_live_twice(client: Client) -> None:
    span = Span()
    body = batch([event(path="p/a"), event(path="p/a")])
    send(client, body)
    send(client, body)
    assert span.total("pageviews") == 2
    assert realtime.top_pages(span.minutes) == [("p/a", 2)]


def test_a_late_event_does_not_move_the_current_minutes(client: Client) -> None:
    span = Span()
    old = ms(timezone.now() - timedelta(hours=3))
    response = send(client, batch([event(ts=old, path="p/old")]))
    assert response.json()["accepted"] == 1
    assert span.total("pageviews") == 0
    assert span.total("visitors") == 0
    assert realtime.top_pages(span.minutes) == []


def test_events_are_counted_in_the_minute_they_happened(client: Client) -> None:
    moment = timezone.now() - timedelta(minutes=30)
    send(client, batch([event(ts=ms(moment), path="p/x")]))
    assert realtime.series("pageviews", [realtime.minute_of(moment)]) == [1]


@pytest.mark.parametrize(
    ("name", "metric"),
    [
        ("order_created", "orders"),
        ("order_paid", "payments"),
        ("payment_failed", "payment_failures"),
    ],
)
def test_server_events_count_orders_payments_and_failures(
    name: str, metric: str, django_capture_on_commit_callbacks: Any
) -> None:
    span = Span()
    buyer = factories.member()
    with django_capture_on_commit_callbacks(execute=True):
        core_events.track(name, member_id=buyer.pk, properties={"order_id": 1})
        core_events.track(name, member_id=buyer.pk, properties={"order_id": 2})
    assert span.total(metric) == 2
    others = {"orders", "payments", "payment_failures"} - {metric}
    assert {m: span.total(m) for m in others} == dict.fromkeys(others, 0)


def test_other_server_events_move_no_live_counter(django_capture_on_commit_callbacks: Any) -> None:
    span = Span()
    with django_capture_on_commit_callbacks(execute=True):
        core_events.track("order_shipped", member_id=1)
        core_events.track("order_created", member_id=None)
    assert (span.total("orders"), span.total("payments"), span.total("pageviews")) == (1, 0, 0)


def test_a_client_event_named_like_a_server_one_moves_nothing(client: Client) -> None:
    span = Span()
    send(client, batch([event("order_paid"), event("payment_failed")]))
    assert (span.total("payments"), span.total("payment_failures")) == (0, 0)


def test_server_events_do_not_make_live_visitors(django_capture_on_commit_callbacks: Any) -> None:
    # given an operator shipping two buyers' orders, nobody using the app
    span = Span()
    with django_capture_on_commit_callbacks(execute=True):
        core_events.track("order_shipped", member_id=1)
        core_events.track("order_shipped", member_id=2)
    # then nobody is live
    assert span.total("visitors") == 0


def test_the_snapshot_reads_the_last_hour(client: Client) -> None:
    send(client, batch([event(path="p/a")], anonymous_id="a1"))
    snapshot = selectors.realtime_snapshot()
    assert len(snapshot["minutes"]) == 60
    assert set(snapshot["series"]) == set(realtime.METRICS)
    assert snapshot["totals"]["pageviews"] in (1, 0)  # 0 only if the minute turned
    assert sum(snapshot["series"]["pageviews"]) == snapshot["totals"]["pageviews"]


# --- API server errors ---------------------------------------------------------------------------
@pytest.fixture
def analyst_token() -> str:
    operator = factories.operator_with_role("analyst")
    return factories.api_token(operator, ["analytics.view"])[1]


def test_an_api_500_is_counted(analyst_token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a report that breaks
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "overview", broken)
    span = Span()
    # when
    response = Client(raise_request_exception=False).get(
        f"{MANAGE}/overview", **bearer(analyst_token)
    )
    # then
    assert response.status_code == 500
    assert span.total("api_5xx") == 1


def test_api_4xx_and_successes_are_not_counted(analyst_token: str, client: Client) -> None:
    span = Span()
    assert client.get(f"{MANAGE}/overview", **bearer(analyst_token)).status_code == 200
    assert client.get(f"{MANAGE}/funnels/999999", **bearer(analyst_token)).status_code == 404
    assert client.get(f"{MANAGE}/overview").status_code == 401
    assert span.total("api_5xx") == 0


@pytest.fixture
def rf() -> RequestFactory:
    return RequestFactory()


def test_a_500_outside_the_api_is_not_counted(rf: RequestFactory) -> None:
    span = Span()
    middleware = ServerErrorCounter(lambda request: HttpResponse(status=500))
    assert middleware(rf.get("/console/analytics/overview/")).status_code == 500
    assert middleware(rf.get("/api/v1/anything")).status_code == 500
    assert span.total("api_5xx") == 1


def test_counting_never_turns_an_error_into_another(
    rf: RequestFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("redis down")

    monkeypatch.setattr(realtime, "record", broken)
    response = HttpResponse(status=503)
    middleware = ServerErrorCounter(lambda request: response)
    assert middleware(rf.get("/api/v1/x")) is response


# --- alert rules ---------------------------------------------------------------------------------
@pytest.fixture
def now_minute() -> int:
    return realtime.current_minute()


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """httpx.post stubbed: records the calls, answers 200."""
    calls: list[dict[str, Any]] = []

    def post(url: str, **kwargs: Any) -> httpx.Response:
        calls.append({"url": url, **kwargs})
        return httpx.Response(200, request=httpx.Request("POST", url))

    monkeypatch.setattr(httpx, "post", post)
    return calls


def rule(**fields: Any) -> AlertRule:
    return factories.alert_rule(**{"window_minutes": 5, "cooldown_minutes": 30, **fields})


def test_above_a_threshold_fires_with_the_value(now_minute: int, webhook: list[Any]) -> None:
    # given a rule "more than 2 payment failures in 5 minutes" and 3 failures
    watched = rule(name="支付失败", threshold=2)
    live("payment_failures", 2, now_minute - 1)
    live("payment_failures", 1, now_minute - 5)
    # when
    fired = alerts.evaluate(now_minute)
    # then
    assert [a.rule_id for a in fired] == [watched.pk]
    alert = Alert.objects.get()
    assert (alert.value, alert.baseline) == (3, None)
    assert "支付失败" in alert.message
    assert alert.webhook_status == ""  # no webhook configured
    assert webhook == []
    watched.refresh_from_db()
    assert watched.last_fired_at is not None


def test_the_threshold_itself_does_not_fire(now_minute: int) -> None:
    rule(threshold=3)
    live("payment_failures", 3, now_minute - 2)
    assert alerts.evaluate(now_minute) == []


def test_only_the_last_complete_minutes_count(now_minute: int) -> None:
    rule(threshold=2)
    # the current (incomplete) minute and one before the 5-minute window
    live("payment_failures", 5, now_minute)
    live("payment_failures", 5, now_minute - 6)
    assert alerts.evaluate(now_minute) == []


def test_below_a_threshold_fires(now_minute: int) -> None:
    rule(metric=AlertRule.Metric.VISITORS, condition=AlertRule.Condition.BELOW, threshold=3)
    live("visitors", 1, now_minute - 1)  # visitor 0
    live("visitors", 2, now_minute - 2)  # visitor 0 again, and visitor 1
    (alert,) = alerts.evaluate(now_minute)
    assert alert.value == 2


def test_visitors_above_count_distinct_visitors(now_minute: int) -> None:
    rule(metric=AlertRule.Metric.VISITORS, threshold=1)
    for minute in (now_minute - 1, now_minute - 2, now_minute - 3):
        live("visitors", 1, minute)  # the same person each minute
    assert alerts.evaluate(now_minute) == []
    live("visitors", 2, now_minute - 4)
    assert len(alerts.evaluate(now_minute)) == 1


@pytest.mark.parametrize(("now_value", "fires"), [(16, True), (15, True), (14, False)])
def test_up_by_a_percentage_against_last_week(now_minute: int, now_value: int, fires: bool) -> None:
    # given "orders up by 50% against the same minutes last week", 10 last week
    rule(metric=AlertRule.Metric.ORDERS, condition=AlertRule.Condition.CHANGE_UP, threshold=50)
    live("orders", 10, now_minute - 3 - alerts.WEEK_MINUTES)
    live("orders", now_value, now_minute - 3)
    # when
    fired = alerts.evaluate(now_minute)
    # then
    assert bool(fired) is fires
    if fires:
        assert (fired[0].value, fired[0].baseline) == (now_value, 10)


@pytest.mark.parametrize(("now_value", "fires"), [(4, True), (5, True), (6, False)])
def test_down_by_a_percentage_against_last_week(
    now_minute: int, now_value: int, fires: bool
) -> None:
    rule(metric=AlertRule.Metric.PAYMENTS, condition=AlertRule.Condition.CHANGE_DOWN, threshold=50)
    live("payments", 10, now_minute - 1 - alerts.WEEK_MINUTES)
    live("payments", now_value, now_minute - 1)
    assert bool(alerts.evaluate(now_minute)) is fires


def test_no_traffic_last_week_means_no_change_alert(now_minute: int) -> None:
    rule(metric=AlertRule.Metric.ORDERS, condition=AlertRule.Condition.CHANGE_UP, threshold=1)
    live("orders", 100, now_minute - 1)
    assert alerts.evaluate(now_minute) == []


def test_a_rule_fires_once_per_cool_down(now_minute: int) -> None:
    # given a breached rule
    watched = rule(threshold=0, cooldown_minutes=30)
    live("payment_failures", 1, now_minute - 1)
    # when evaluated three times in a row
    assert len(alerts.evaluate(now_minute)) == 1
    assert alerts.evaluate(now_minute) == []
    assert alerts.evaluate(now_minute) == []
    # then one alert; after the cool-down it fires again
    assert Alert.objects.count() == 1
    AlertRule.objects.filter(pk=watched.pk).update(
        last_fired_at=timezone.now() - timedelta(minutes=31)
    )
    assert len(alerts.evaluate(now_minute)) == 1
    assert Alert.objects.count() == 2


def test_an_inactive_rule_never_fires(now_minute: int) -> None:
    rule(threshold=0, is_active=False)
    live("payment_failures", 9, now_minute - 1)
    assert alerts.evaluate(now_minute) == []


def test_api_errors_can_be_watched(now_minute: int) -> None:
    rule(metric=AlertRule.Metric.API_5XX, threshold=4, window_minutes=1)
    live("api_5xx", 5, now_minute - 1)
    (alert,) = alerts.evaluate(now_minute)
    assert alert.value == 5


def test_the_webhook_is_posted_and_its_status_kept(now_minute: int, webhook: list[Any]) -> None:
    # given a rule with a robot webhook
    rule(
        name="下单暴跌",
        metric=AlertRule.Metric.ORDERS,
        condition=AlertRule.Condition.CHANGE_DOWN,
        threshold=50,
        webhook_url="https://robot.example.com/hook?key=k",
    )
    live("orders", 20, now_minute - 2 - alerts.WEEK_MINUTES)
    live("orders", 2, now_minute - 2)
    # when
    (alert,) = alerts.evaluate(now_minute)
    # then
    (call,) = webhook
    assert call["url"] == "https://robot.example.com/hook?key=k"
    assert call["timeout"] == alerts.WEBHOOK_TIMEOUT
    payload = call["json"]
    assert payload["rule"] == "下单暴跌"
    assert (payload["metric"], payload["condition"], payload["threshold"]) == (
        "orders",
        "change_down",
        50,
    )
    assert (payload["value"], payload["baseline"]) == (2, 20)
    assert payload["text"] == payload["message"] == alert.message
    assert payload["msg_type"] == "text"
    alert.refresh_from_db()
    assert alert.webhook_status == "200"


def test_a_failing_webhook_is_recorded_not_raised(
    now_minute: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def post(url: str, **kwargs: Any) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out")

    monkeypatch.setattr(httpx, "post", post)
    rule(threshold=0, webhook_url="https://robot.example.com/hook")
    live("payment_failures", 1, now_minute - 1)
    (alert,) = alerts.evaluate(now_minute)
    alert.refresh_from_db()
    assert alert.webhook_status == "error"


def test_a_webhook_answering_500_keeps_that_status(
    now_minute: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        httpx, "post", lambda url, **kw: httpx.Response(500, request=httpx.Request("POST", url))
    )
    rule(threshold=0, webhook_url="https://robot.example.com/hook")
    live("payment_failures", 1, now_minute - 1)
    (alert,) = alerts.evaluate(now_minute)
    assert Alert.objects.get(pk=alert.pk).webhook_status == "500"


def test_acknowledging_an_alert_records_who_and_when() -> None:
    operator = factories.operator_with_role("ops_staff")
    alert = factories.alert()
    services.acknowledge_alert(alert=alert, actor=operator)
    first_time = Alert.objects.get(pk=alert.pk).acknowledged_at
    assert first_time is not None
    # a second acknowledgement keeps the first and writes no second audit row
    services.acknowledge_alert(alert=alert, actor=factories.operator_with_role("tech_staff"))
    alert.refresh_from_db()
    assert (alert.acknowledged_by_id, alert.acknowledged_at) == (operator.pk, first_time)
    [row] = LogEntry.objects.get_for_object(alert)
    assert (row.actor_id, row.action) == (operator.pk, LogEntry.Action.UPDATE)
    assert list(row.changes) == ["acknowledged_at"]


@pytest.mark.parametrize("role", ["analyst", "finance", "customer_service"])
def test_acknowledging_needs_the_acknowledge_permission(role: str) -> None:
    alert = factories.alert()
    with pytest.raises(Forbidden):
        services.acknowledge_alert(alert=alert, actor=factories.operator_with_role(role))
    with pytest.raises(Forbidden):
        services.acknowledge_alert(alert=alert, actor=None)
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    assert not LogEntry.objects.get_for_object(alert).exists()


def test_the_in_process_counters_can_be_forgotten() -> None:
    minute = realtime.current_minute()
    realtime.record("api_5xx", 3, minute=minute)
    realtime.reset_local()
    expected = 3 if ON_REDIS else 0  # Redis counters outlive the process
    assert realtime.series("api_5xx", [minute]) == [expected]
