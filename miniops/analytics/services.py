"""Analytics writes: storing events (client batches and server ``track`` calls),
merging an anonymous visitor into a member, marking days for the rollups, saved
funnels, alert rules and alert acknowledgements."""

from __future__ import annotations

import atexit
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.analytics import ingest, realtime, storage
from miniops.analytics.models import (
    Alert,
    AlertRule,
    Event,
    Funnel,
    VisitorAlias,
    VisitorFirst,
)
from miniops.core import audit, localcache
from miniops.core.errors import InvalidInput, NotFound
from miniops.core.events import ServerEvent
from miniops.core.permissions import P, require, require_if_operator

logger = logging.getLogger("miniops.analytics")

#: server events that move a live counter
LIVE_SERVER_EVENTS = {
    "order_created": "orders",
    "order_paid": "payments",
    "payment_failed": "payment_failures",
    "support_sla_breached": "sla_breaches",
}
PAGE_VIEW = "page_view"


def visitor_key(member_id: int | None, anonymous_id: str) -> str:
    return f"m{member_id}" if member_id is not None else f"a{anonymous_id}"


# --- ingestion ----------------------------------------------------------------------------
def ingest_batch(body: bytes, *, member_id: int | None) -> dict[str, Any]:
    """Store the valid events of a client batch; refuse the others one by one.

    Raises ``ingest.BatchError`` when the batch as a whole is unusable."""
    received = timezone.now()
    rows, refused = ingest.decode_batch(
        body,
        member_id=member_id,
        received=received,
        horizon=timedelta(days=settings.MINIOPS_ANALYTICS_HORIZON_DAYS),
    )
    stored = storage.insert(rows)
    count_live(stored)
    if member_id is not None:
        _link_anonymous_ids(member_id, {row.anonymous_id for row in rows if row.anonymous_id})
    return {
        "accepted": len(rows),
        "duplicates": len(rows) - len(stored),
        "refused": refused,
    }


def count_live(rows: Iterable[ingest.Row]) -> None:
    batch = realtime.Batch()
    for row in rows:
        minute = realtime.minute_of(row.ts)
        if not realtime.is_live(minute):
            continue
        if row.source == "client":  # an operator shipping an order is not a visit
            batch.visitor(minute, visitor_key(row.member_id, row.anonymous_id))
        if row.name == PAGE_VIEW and row.source == "client":
            batch.add("pageviews", minute)
            if row.path:
                batch.page(minute, row.path)
        metric = LIVE_SERVER_EVENTS.get(row.name) if row.source == "server" else None
        if metric:
            batch.add(metric, minute)
    batch.flush()


def store_server_events(events: Sequence[ServerEvent]) -> None:
    """The sink for ``core.events.track``: runs after the business transaction
    committed. Events are written in batches by a background thread every
    ``MINIOPS_ANALYTICS_FLUSH_SECONDS`` (0: at once, as tests do), so a sale
    does not wait for an analytics write."""
    if settings.MINIOPS_ANALYTICS_FLUSH_SECONDS <= 0:
        write_server_events(events)
    else:
        _buffer.add(events)


def write_server_events(events: Sequence[ServerEvent]) -> None:
    now = timezone.now()
    rows = [
        ingest.Row(
            uuid=event.id,
            name=event.name[:64],
            source="server",
            member_id=event.member_id,
            anonymous_id="",
            session_id="",
            ts=event.at,
            day=ingest.local_day(event.at),
            received_at=now,
            path="",
            referrer="",
            scene=None,
            channel="",
            utm_source="",
            utm_medium="",
            utm_campaign="",
            share_code=str(event.properties.get("share_code") or "")[:64],
            platform="",
            os="",
            model="",
            app_version="",
            network="",
            properties=dict(event.properties),
        )
        for event in events
    ]
    stored = storage.insert(rows)
    count_live(stored)
    for event in events:
        anonymous_id = event.properties.get("anonymous_id")
        if event.member_id is not None and isinstance(anonymous_id, str) and anonymous_id:
            merge_anonymous(anonymous_id=anonymous_id[:64], member_id=event.member_id)


class _Buffer:
    """Server events waiting to be written, per process; flushed by a daemon
    thread and at exit. A crash loses at most one interval of analytics events,
    never business data (orders, payments and refunds are their own records)."""

    MAX = 500

    def __init__(self) -> None:
        self.pending: list[ServerEvent] = []
        self.condition = threading.Condition()
        self.thread: threading.Thread | None = None

    def add(self, events: Sequence[ServerEvent]) -> None:
        with self.condition:
            self.pending.extend(events)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self._run, name="analytics-flush", daemon=True
                )
                self.thread.start()
                atexit.register(self.flush)
            if len(self.pending) >= self.MAX:
                self.condition.notify()

    def _run(self) -> None:
        while True:
            with self.condition:
                self.condition.wait(timeout=settings.MINIOPS_ANALYTICS_FLUSH_SECONDS)
            self.flush()

    def flush(self) -> None:
        with self.condition:
            events, self.pending = self.pending, []
        if not events:
            return
        try:
            write_server_events(events)
        except Exception:
            logger.exception("could not store %d server events", len(events))
        finally:
            from django.db import connection

            connection.close_if_unusable_or_obsolete()


_buffer = _Buffer()


def flush_server_events() -> None:
    """Write buffered server events now (tests, shutdown, the demo seeder)."""
    _buffer.flush()


# --- identity -----------------------------------------------------------------------------
def merge_anonymous(*, anonymous_id: str, member_id: int) -> bool:
    """Count everything ``anonymous_id`` did for ``member_id`` from now on: the
    alias is recorded (first member wins) and the days with its events rebuilt.
    Returns whether a new alias was recorded."""
    if not anonymous_id:
        return False
    _alias, created = VisitorAlias.objects.get_or_create(
        anonymous_id=anonymous_id, defaults={"member_id": member_id}
    )
    if created:
        # The visitor counted as "a<id>" until now is this member from here on.
        VisitorFirst.objects.filter(visitor=f"a{anonymous_id}").delete()
        days = set(
            Event.objects.filter(anonymous_id=anonymous_id, member_id__isnull=True)
            .values_list("day", flat=True)
            .distinct()
        )
        mark_dirty(days)
    return created


def _link_anonymous_ids(member_id: int, anonymous_ids: set[str]) -> None:
    """A batch sent with a member token links its anonymous ids to the member (once
    per process every few minutes; the database keeps the first link)."""
    for anonymous_id in anonymous_ids:
        if localcache.first_time(f"analytics:alias:{anonymous_id}", 300.0):
            merge_anonymous(anonymous_id=anonymous_id, member_id=member_id)


# --- rollup bookkeeping -------------------------------------------------------------------
def mark_dirty(days: Iterable[date]) -> None:
    """Ask the rollups to rebuild ``days`` (new events mark their own days as they
    are stored; this is for identity merges and manual rebuilds)."""
    storage.mark_days(set(days))


# --- funnels and alerts -------------------------------------------------------------------
MAX_STEPS = 10
PROPERTY_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")


def clean_steps(steps: Any) -> list[dict[str, Any]]:
    """``[{"event": "page_view", "property": "path", "value": "pages/cart"}, ...]``."""
    if not isinstance(steps, list) or not 2 <= len(steps) <= MAX_STEPS:
        raise InvalidInput(fields={"steps": _("Between 2 and %d steps.") % MAX_STEPS})
    cleaned = []
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            raise InvalidInput(fields={f"steps.{index}": _("An event name is required.")})
        name = step.get("event")
        if not isinstance(name, str) or not 1 <= len(name) <= 64:
            raise InvalidInput(fields={f"steps.{index}.event": _("An event name is required.")})
        prop, value = step.get("property") or "", step.get("value")
        if not isinstance(prop, str) or not PROPERTY_NAME.fullmatch(prop or "x"):
            raise InvalidInput(
                fields={f"steps.{index}.property": _("Letters, digits and _ only; at most 64.")}
            )
        if prop and not isinstance(value, str | int | float | bool):
            raise InvalidInput(fields={f"steps.{index}.value": _("A value to match.")})
        cleaned.append(
            {"event": name, "property": prop, "value": value if prop else None}
            | ({"label": str(step["label"])[:64]} if step.get("label") else {})
        )
    return cleaned


@transaction.atomic
def save_funnel(
    *, name: str, steps: Any, window_hours: int, actor: Any, funnel_id: int | None = None
) -> Funnel:
    """Save a funnel for everyone to reuse (new, or ``funnel_id`` changed); the
    audit log keeps who saved which steps."""
    require_if_operator(actor, P.ANALYTICS_ALERTS)
    name = (name or "").strip()
    if not 1 <= len(name) <= 80:
        raise InvalidInput(fields={"name": _("1 to 80 characters.")})
    if isinstance(window_hours, bool) or not isinstance(window_hours, int):
        raise InvalidInput(fields={"window_hours": _("Between 1 and 720 hours.")})
    if not 1 <= window_hours <= 720:
        raise InvalidInput(fields={"window_hours": _("Between 1 and 720 hours.")})
    cleaned = clean_steps(steps)
    if funnel_id is None:
        with audit.acting_as(actor):
            return Funnel.objects.create(
                name=name, steps=cleaned, window_hours=window_hours, created_by=actor
            )
    funnel = Funnel.objects.select_for_update().filter(pk=funnel_id).first()
    if funnel is None:
        raise NotFound()
    funnel.name, funnel.steps, funnel.window_hours = name, cleaned, window_hours
    with audit.acting_as(actor):
        funnel.save(update_fields=["name", "steps", "window_hours"])
    return funnel


@transaction.atomic
def delete_funnel(*, funnel: Funnel, actor: Any) -> None:
    require_if_operator(actor, P.ANALYTICS_ALERTS)
    with audit.acting_as(actor):
        funnel.delete()


# --- alert rules --------------------------------------------------------------------------
MAX_THRESHOLD = 10_000_000
MAX_COOLDOWN_MINUTES = 1440


def validate_alert_rule(rule: AlertRule) -> None:
    """The rules an alert rule obeys, field by field (the console form shows them
    on its fields; ``save_alert_rule`` enforces them for every caller)."""
    errors: dict[str, Any] = {}
    name = (rule.name or "").strip()
    if not 1 <= len(name) <= 80:
        errors["name"] = _("1 to 80 characters.")
    if rule.metric not in AlertRule.Metric.values:
        errors["metric"] = _("Choose a metric.")
    if rule.condition not in AlertRule.Condition.values:
        errors["condition"] = _("Choose a condition.")
    for field, low, high, message in (
        ("threshold", 0, MAX_THRESHOLD, _("At most 10,000,000.")),
        ("window_minutes", 1, 60, _("Between 1 and 60 minutes.")),
        ("cooldown_minutes", 1, MAX_COOLDOWN_MINUTES, _("Between 1 and 1440 minutes.")),
    ):
        value = getattr(rule, field)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[field] = message
    url = rule.webhook_url or ""
    if url:
        parts = urlsplit(url)
        if len(url) > 200 or parts.scheme not in ("http", "https") or not parts.hostname:
            errors["webhook_url"] = _("An http(s) address of at most 200 characters.")
    if errors:
        raise InvalidInput(fields=errors)


ALERT_RULE_FIELDS = (
    "name",
    "metric",
    "condition",
    "threshold",
    "window_minutes",
    "cooldown_minutes",
    "webhook_url",
    "is_active",
)


@transaction.atomic
def save_alert_rule(
    *,
    actor: Any,
    rule: AlertRule | None = None,
    name: str,
    metric: str,
    condition: str,
    threshold: int,
    window_minutes: int = 5,
    cooldown_minutes: int = 30,
    webhook_url: str = "",
    is_active: bool = True,
) -> AlertRule:
    """Create an alert rule, or change ``rule``. The audit row keeps every field
    but the webhook URL, of which it keeps the host (see ``models._register_audit``)."""
    require_if_operator(actor, P.ANALYTICS_ALERTS)
    if rule is not None and rule.pk is not None:
        locked = AlertRule.objects.select_for_update().filter(pk=rule.pk).first()
        if locked is None:
            raise NotFound()
        rule = locked
    rule = rule or AlertRule()
    rule.name = (name or "").strip()
    rule.metric, rule.condition = metric, condition
    rule.threshold, rule.window_minutes, rule.cooldown_minutes = (
        threshold,
        window_minutes,
        cooldown_minutes,
    )
    rule.webhook_url = (webhook_url or "").strip()
    rule.is_active = bool(is_active)
    validate_alert_rule(rule)
    with audit.acting_as(actor):
        if rule.pk is None:
            rule.save()
        else:  # the firing time is the evaluator's, never overwritten from a stale form
            rule.save(update_fields=list(ALERT_RULE_FIELDS))
    return rule


@transaction.atomic
def delete_alert_rule(*, rule: AlertRule, actor: Any) -> None:
    """Delete a rule and its alert history (the audit log keeps the rule)."""
    require_if_operator(actor, P.ANALYTICS_ALERTS)
    with audit.acting_as(actor):
        rule.delete()


def acknowledge_alert(*, alert: Alert, actor: Any) -> Alert:
    """Someone has seen a fired alert. The first acknowledgement stands (one
    conditional UPDATE, so two operators at once record one); acknowledging again
    changes nothing and writes nothing. The acknowledgement is in the audit log."""
    require(actor, P.ANALYTICS_ACKNOWLEDGE)
    now = timezone.now()
    won = Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledged_by=actor
    )
    alert.refresh_from_db()
    if won:
        audit.record(
            actor=actor,
            action=audit.Action.UPDATE,
            instance=alert,
            changes={"acknowledged_at": [None, now.isoformat()]},
        )
    return alert
