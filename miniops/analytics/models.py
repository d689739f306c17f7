"""Behaviour analytics: immutable raw events, the rollups that reports read, and
the bookkeeping that keeps rollups in step with late events.

Raw events are written once (deduplicated by the client-made UUID) and never
updated: identity merges (an anonymous visitor who signs in) live in
``VisitorAlias`` and are applied when rollups are built, not by rewriting history.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from miniops.core.fields import MoneyField


class Event(models.Model):
    id = models.BigAutoField(primary_key=True)
    uuid = models.UUIDField(unique=True)
    name = models.CharField(max_length=64)
    #: "client" (the mini-program) or "server" (a service's track() call)
    source = models.CharField(max_length=6, default="client")
    member_id = models.BigIntegerField(null=True, blank=True)
    anonymous_id = models.CharField(max_length=64, blank=True, default="")
    session_id = models.CharField(max_length=64, blank=True, default="")
    #: when it happened (client clock corrected for skew), UTC
    ts = models.DateTimeField()
    #: the local day of ``ts`` in TIME_ZONE, fixed at write time
    day = models.DateField()
    received_at = models.DateTimeField()
    path = models.CharField(max_length=200, blank=True, default="")
    referrer = models.CharField(max_length=200, blank=True, default="")
    scene = models.IntegerField(null=True, blank=True)
    channel = models.CharField(max_length=64, blank=True, default="")
    utm_source = models.CharField(max_length=64, blank=True, default="")
    utm_medium = models.CharField(max_length=64, blank=True, default="")
    utm_campaign = models.CharField(max_length=64, blank=True, default="")
    share_code = models.CharField(max_length=64, blank=True, default="")
    platform = models.CharField(max_length=16, blank=True, default="")
    os = models.CharField(max_length=32, blank=True, default="")
    model = models.CharField(max_length=64, blank=True, default="")
    app_version = models.CharField(max_length=32, blank=True, default="")
    network = models.CharField(max_length=16, blank=True, default="")
    properties = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [
            models.Index(fields=["day", "name"], name="event_day_name_idx"),
            models.Index(fields=["member_id", "ts"], name="event_member_ts_idx"),
            models.Index(fields=["anonymous_id", "day"], name="event_anon_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.ts:%Y-%m-%d %H:%M:%S}"


class VisitorAlias(models.Model):
    """An anonymous id that turned out to be a member (they signed in)."""

    anonymous_id = models.CharField(max_length=64, primary_key=True)
    member_id = models.BigIntegerField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("visitor alias")
        verbose_name_plural = _("visitor aliases")

    def __str__(self) -> str:
        return f"{self.anonymous_id} → {self.member_id}"


class DirtyDay(models.Model):
    """A day whose rollups must be rebuilt (new, late or merged events)."""

    day = models.DateField(primary_key=True)
    marked_at = models.DateTimeField()

    class Meta:
        verbose_name = _("day to rebuild")
        verbose_name_plural = _("days to rebuild")

    def __str__(self) -> str:
        return str(self.day)


class FillState(models.Model):
    """Checkpoint of a rollup or export (the Zulip analytics pattern): what was
    done last, and whether a run is in progress (a crash leaves ``running``)."""

    name = models.CharField(max_length=64, primary_key=True)
    done_until = models.BigIntegerField(default=0)  # e.g. last exported event id
    state = models.CharField(max_length=16, default="done")
    last_run = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        verbose_name = _("rollup checkpoint")
        verbose_name_plural = _("rollup checkpoints")

    def __str__(self) -> str:
        return self.name


class VisitorDay(models.Model):
    """Member × day activity: one row per visitor active on a day.

    ``visitor`` is ``m<member id>`` for members (anonymous ids merged through
    ``VisitorAlias``) and ``a<anonymous id>`` for visitors never signed in.
    """

    day = models.DateField()
    visitor = models.CharField(max_length=72)
    member_id = models.BigIntegerField(null=True, blank=True)
    events = models.PositiveIntegerField(default=0)
    pageviews = models.PositiveIntegerField(default=0)
    #: the source of the visitor's first session that day
    scene = models.IntegerField(null=True, blank=True)
    channel = models.CharField(max_length=64, blank=True, default="")
    utm_source = models.CharField(max_length=64, blank=True, default="")
    via_share = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("active visitor")
        verbose_name_plural = _("active visitors")
        constraints = [
            models.UniqueConstraint(fields=["day", "visitor"], name="visitorday_unique"),
        ]
        indexes = [models.Index(fields=["visitor", "day"], name="visitorday_visitor_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.visitor}"


class VisitorFirst(models.Model):
    """Each visitor's first active day (cohorts by first visit)."""

    visitor = models.CharField(max_length=72, primary_key=True)
    first_day = models.DateField(db_index=True)

    class Meta:
        verbose_name = _("first visit")
        verbose_name_plural = _("first visits")

    def __str__(self) -> str:
        return f"{self.visitor} {self.first_day}"


class DaySummary(models.Model):
    """One row per day: what the overview and trends read."""

    day = models.DateField(primary_key=True)
    pageviews = models.PositiveIntegerField(default=0)
    visitors = models.PositiveIntegerField(default=0)  # DAU
    new_visitors = models.PositiveIntegerField(default=0)
    wau = models.PositiveIntegerField(default=0)  # distinct visitors in the 7 days ending here
    mau = models.PositiveIntegerField(default=0)  # … in the 30 days ending here
    sessions = models.PositiveIntegerField(default=0)
    session_seconds = models.BigIntegerField(default=0)
    new_members = models.PositiveIntegerField(default=0)
    orders = models.PositiveIntegerField(default=0)  # placed that day
    paid_orders = models.PositiveIntegerField(default=0)
    gmv = MoneyField(default=0)  # paid that day, fen
    paying_members = models.PositiveIntegerField(default=0)
    refunds = models.PositiveIntegerField(default=0)
    refund_amount = MoneyField(default=0)
    built_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("day summary")
        verbose_name_plural = _("day summaries")

    def __str__(self) -> str:
        return str(self.day)


class EventDay(models.Model):
    """Counts and unique visitors per event name and page, per day."""

    day = models.DateField()
    name = models.CharField(max_length=64)
    path = models.CharField(max_length=200, blank=True, default="")
    count = models.PositiveIntegerField(default=0)
    visitors = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("event count")
        verbose_name_plural = _("event counts")
        constraints = [
            models.UniqueConstraint(fields=["day", "name", "path"], name="eventday_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.name} {self.path}"


class SourceDay(models.Model):
    """Traffic sources per day: visitors by the source of their first session, the
    members who registered and the orders paid by those visitors that day."""

    day = models.DateField()
    scene = models.IntegerField(null=True, blank=True)
    channel = models.CharField(max_length=64, blank=True, default="")
    utm_source = models.CharField(max_length=64, blank=True, default="")
    via_share = models.BooleanField(default=False)
    visitors = models.PositiveIntegerField(default=0)
    new_members = models.PositiveIntegerField(default=0)
    orders = models.PositiveIntegerField(default=0)
    gmv = MoneyField(default=0)

    class Meta:
        verbose_name = _("traffic source")
        verbose_name_plural = _("traffic sources")
        indexes = [models.Index(fields=["day"], name="sourceday_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.scene} {self.channel}"


class Funnel(models.Model):
    """A saved funnel: ordered steps, each an event with an optional property filter."""

    name = models.CharField(_("name"), max_length=80)
    steps = models.JSONField(_("steps"), default=list)
    window_hours = models.PositiveIntegerField(_("conversion window (hours)"), default=24)
    created_by = models.ForeignKey(
        "accounts.Operator", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("funnel")
        verbose_name_plural = _("funnels")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AlertRule(models.Model):
    class Metric(models.TextChoices):
        VISITORS = "visitors", _("Visitors")
        PAGEVIEWS = "pageviews", _("Page views")
        ORDERS = "orders", _("Orders")
        PAYMENTS = "payments", _("Payments")
        PAYMENT_FAILURES = "payment_failures", _("Payment failures")
        API_5XX = "api_5xx", _("API server errors (5xx)")
        SLA_BREACHES = "sla_breaches", _("Customer-service SLA breaches")

    class Condition(models.TextChoices):
        ABOVE = "above", _("above a threshold")
        BELOW = "below", _("below a threshold")
        CHANGE_UP = "change_up", _("up by % against the same time last week")
        CHANGE_DOWN = "change_down", _("down by % against the same time last week")

    name = models.CharField(_("name"), max_length=80)
    metric = models.CharField(_("metric"), max_length=24, choices=Metric.choices)
    condition = models.CharField(_("condition"), max_length=12, choices=Condition.choices)
    threshold = models.PositiveIntegerField(
        _("threshold"), help_text=_("A count, or a percentage for changes.")
    )
    window_minutes = models.PositiveSmallIntegerField(_("over the last (minutes)"), default=5)
    cooldown_minutes = models.PositiveSmallIntegerField(_("cool-down (minutes)"), default=30)
    webhook_url = models.URLField(_("webhook"), blank=True, default="")
    is_active = models.BooleanField(_("active"), default=True)
    last_fired_at = models.DateTimeField(_("last fired"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(window_minutes__gte=1, window_minutes__lte=60),
                name="alert_window_1_60",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Alert(models.Model):
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    fired_at = models.DateTimeField(db_index=True)
    value = models.FloatField()
    baseline = models.FloatField(null=True, blank=True)
    message = models.CharField(max_length=255)
    webhook_status = models.CharField(max_length=32, blank=True, default="")
    acknowledged_by = models.ForeignKey(
        "accounts.Operator", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-fired_at"]

    def __str__(self) -> str:
        return self.message


def _register_audit() -> None:
    """Operators' saved funnels and alert rules go to the audit log. A rule's
    webhook URL holds the robot's credential (``?key=``, ``access_token=``, or the
    last path segment), so its rows keep only the scheme and host plus a keyed
    fingerprint (``core.masking.redact_url``): enough to see that and when the
    target changed, nothing to call it with. Firing times move on every alert and
    are not operator changes."""
    from auditlog.registry import auditlog

    auditlog.register(Funnel, exclude_fields=["created_at"])
    auditlog.register(
        AlertRule,
        exclude_fields=["last_fired_at", "created_at"],
        mask_fields=["webhook_url"],
        mask_callable="miniops.core.masking.redact_url",
    )


_register_audit()
