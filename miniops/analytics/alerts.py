"""Alert rules on the live counters: a threshold, or a change against the same
minutes a week earlier; fired at most once per cool-down, kept in the history,
pushed to console browsers and posted to the rule's webhook."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.analytics import realtime
from miniops.analytics.models import Alert, AlertRule
from miniops.core import events

logger = logging.getLogger("miniops.analytics")
WEEK_MINUTES = 7 * 24 * 60
WEBHOOK_TIMEOUT = 5.0


def measure(rule: AlertRule, now_minute: int) -> tuple[float, float | None]:
    """(value over the window, the same window a week earlier when needed). The
    window is the last ``window_minutes`` complete minutes."""
    span = range(now_minute - rule.window_minutes, now_minute)
    value = float(realtime.total(rule.metric, span))
    baseline = None
    if rule.condition in (AlertRule.Condition.CHANGE_UP, AlertRule.Condition.CHANGE_DOWN):
        week_ago = range(span.start - WEEK_MINUTES, span.stop - WEEK_MINUTES)
        baseline = float(realtime.total(rule.metric, week_ago))
    return value, baseline


def breached(rule: AlertRule, value: float, baseline: float | None) -> bool:
    condition = rule.condition
    if condition == AlertRule.Condition.ABOVE:
        return value > rule.threshold
    if condition == AlertRule.Condition.BELOW:
        return value < rule.threshold
    if not baseline:  # nothing to compare with (no traffic a week ago)
        return False
    change = (value - baseline) / baseline * 100
    if condition == AlertRule.Condition.CHANGE_UP:
        return change >= rule.threshold
    return -change >= rule.threshold


def describe(rule: AlertRule, value: float, baseline: float | None) -> str:
    metric = str(AlertRule.Metric(rule.metric).label)
    if baseline is None:
        return _("%(rule)s: %(metric)s = %(value)d in the last %(minutes)d min") % {
            "rule": rule.name,
            "metric": metric,
            "value": value,
            "minutes": rule.window_minutes,
        }
    return _(
        "%(rule)s: %(metric)s = %(value)d in the last %(minutes)d min "
        "(same time last week: %(baseline)d)"
    ) % {
        "rule": rule.name,
        "metric": metric,
        "value": value,
        "minutes": rule.window_minutes,
        "baseline": baseline,
    }


def evaluate(now_minute: int | None = None) -> list[Alert]:
    """Check every active rule out of its cool-down; returns the alerts fired."""
    now = timezone.now()
    now_minute = realtime.current_minute() if now_minute is None else now_minute
    fired = []
    for rule in AlertRule.objects.filter(is_active=True):
        if rule.last_fired_at and rule.last_fired_at > now - timedelta(
            minutes=rule.cooldown_minutes
        ):
            continue
        value, baseline = measure(rule, now_minute)
        if not breached(rule, value, baseline):
            continue
        # Claim the firing: only one worker fires a rule per cool-down.
        claimed = (
            AlertRule.objects.filter(pk=rule.pk)
            .filter(
                Q(last_fired_at__isnull=True)
                | Q(last_fired_at__lte=now - timedelta(minutes=rule.cooldown_minutes))
            )
            .update(last_fired_at=now)
        )
        if not claimed:
            continue
        alert = Alert.objects.create(
            rule=rule,
            fired_at=now,
            value=value,
            baseline=baseline,
            message=describe(rule, value, baseline)[:255],
        )
        _push(alert)
        if rule.webhook_url:
            alert.webhook_status = _post_webhook(rule, alert)
            alert.save(update_fields=["webhook_status"])
        fired.append(alert)
    return fired


def _push(alert: Alert) -> None:
    events.notify_operators({"type": "alert", "message": alert.message, "id": alert.pk})


def _post_webhook(rule: AlertRule, alert: Alert) -> str:
    payload = {
        "rule": rule.name,
        "metric": rule.metric,
        "condition": rule.condition,
        "threshold": rule.threshold,
        "value": alert.value,
        "baseline": alert.baseline,
        "message": alert.message,
        "fired_at": alert.fired_at.isoformat(),
        # Feishu / DingTalk / WeCom robots read "text"
        "msg_type": "text",
        "text": alert.message,
    }
    try:
        response = httpx.post(rule.webhook_url, json=payload, timeout=WEBHOOK_TIMEOUT)
    except httpx.HTTPError as exc:
        logger.warning("alert webhook %s failed: %s", rule.webhook_url, exc)
        return "error"
    return str(response.status_code)
