"""Complaints and tickets, their SLA policies and the business calendar.

States: open → pending (waiting for the member) → resolved → closed, with reopen
from resolved (or closed, within ``reopen_days``). SLA clocks count business time
of the calendar in its time zone and stop while the ticket is pending.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from miniops.core.ledger import LedgerEntry


def _weekdays() -> list[int]:
    return [0, 1, 2, 3, 4]


class BusinessCalendar(models.Model):
    """Opening hours in one time zone; holidays closed all day."""

    name = models.CharField(_("name"), max_length=64)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    #: 0 = Monday … 6 = Sunday
    weekdays = models.JSONField(_("working days"), default=_weekdays)
    opens = models.TimeField(_("opens"), default=dt.time(9, 0))
    closes = models.TimeField(_("closes"), default=dt.time(18, 0))
    #: ISO dates closed all day
    holidays = models.JSONField(_("holidays"), default=list, blank=True)

    class Meta:
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")
        constraints = [
            models.CheckConstraint(condition=Q(opens__lt=models.F("closes")), name="cal_opens_lt"),
        ]

    def __str__(self) -> str:
        return self.name


class TicketCategory(models.TextChoices):
    COMPLAINT = "complaint", _("Complaint")
    REFUND = "refund", _("Refund or return")
    DELIVERY = "delivery", _("Delivery")
    PRODUCT = "product", _("Product question")
    ACCOUNT = "account", _("Account")
    OTHER = "other", _("Other")


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class SlaPolicy(models.Model):
    """Targets for tickets of a category and priority (blank: any)."""

    name = models.CharField(_("name"), max_length=64)
    category = models.CharField(
        _("category"), max_length=12, choices=TicketCategory.choices, blank=True
    )
    priority = models.CharField(_("priority"), max_length=8, choices=Priority.choices, blank=True)
    first_response_minutes = models.PositiveIntegerField(_("first response (minutes)"))
    next_response_minutes = models.PositiveIntegerField(_("next response (minutes)"))
    resolution_minutes = models.PositiveIntegerField(_("resolution (minutes)"))
    calendar = models.ForeignKey(
        BusinessCalendar,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        verbose_name=_("business hours (empty: round the clock)"),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TicketState(models.TextChoices):
    OPEN = "open", _("Open")
    PENDING = "pending", _("Waiting for the member")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


class Ticket(models.Model):
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="support_tickets",
        verbose_name=_("member"),
    )
    conversation = models.ForeignKey(
        "support.Conversation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("conversation"),
    )
    order = models.ForeignKey(
        "orders.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("order"),
    )
    category = models.CharField(_("category"), max_length=12, choices=TicketCategory.choices)
    priority = models.CharField(
        _("priority"), max_length=8, choices=Priority.choices, default=Priority.NORMAL
    )
    subject = models.CharField(_("subject"), max_length=120)
    description = models.TextField(_("description"), max_length=2000, blank=True)
    #: storage names of the member's uploaded images
    images = models.JSONField(_("images"), default=list, blank=True)
    state = models.CharField(
        _("state"), max_length=8, choices=TicketState.choices, default=TicketState.OPEN
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_tickets",
        verbose_name=_("assignee"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sla_policy = models.ForeignKey(
        SlaPolicy, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("SLA policy")
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    first_response_at = models.DateTimeField(_("first response"), null=True, blank=True)
    #: the member spoke last and waits for an answer since then (next response)
    awaiting_since = models.DateTimeField(null=True, blank=True)
    last_reply_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    reopened = models.PositiveSmallIntegerField(_("times reopened"), default=0)

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "assignee"], name="ticket_state_idx")]

    def __str__(self) -> str:
        return f"T{self.pk:05d} {self.subject}" if self.pk else self.subject


class TicketEvent(models.Model):
    """The ticket's timeline: created, state changes, replies, notes, assignment."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        STATE = "state", _("State changed")
        REPLY = "reply", _("Reply to the member")
        MEMBER = "member", _("Member wrote")
        NOTE = "note", _("Internal note")
        ASSIGNED = "assigned", _("Assigned")

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="events", verbose_name=_("ticket")
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    from_state = models.CharField(_("from"), max_length=8, choices=TicketState.choices, blank=True)
    to_state = models.CharField(_("to"), max_length=8, choices=TicketState.choices, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("operator"),
    )
    by_member = models.BooleanField(_("by the member"), default=False)
    text = models.TextField(_("text"), blank=True)
    at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("ticket event")
        verbose_name_plural = _("ticket events")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return str(self.get_kind_display())


class SlaMetric(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("First response")
    NEXT_RESPONSE = "next_response", _("Next response")
    RESOLUTION = "resolution", _("Resolution")


class SlaEvent(LedgerEntry):
    """A warning (80 % of a target used) or a breach, once per ticket, metric and
    cycle (``key``); the row is queued when found and done once operators are told."""

    class Level(models.TextChoices):
        WARNING = "warning", _("Warning (80 %)")
        BREACH = "breach", _("Breached")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="sla_events")
    metric = models.CharField(max_length=16, choices=SlaMetric.choices)
    level = models.CharField(max_length=8, choices=Level.choices)

    class Meta(LedgerEntry.Meta):
        verbose_name = _("SLA event")
        verbose_name_plural = _("SLA events")
