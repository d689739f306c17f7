"""Conversations, their messages, agents' status and queues.

A conversation belongs to one member and, at any time, to at most one agent. Its
messages are numbered ``seq`` 1, 2, 3… inside it (the number is taken under a lock
of the conversation row, so numbers are contiguous and in commit order): a client
that saw up to ``seq`` *n* asks for ``after=n`` and gets the rest, in order, once.
A transfer re-points the conversation; messages are never copied.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Queue(models.Model):
    """A topic members pick (or are routed to): pre-sales, orders, after-sales."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=64)
    sort = models.PositiveSmallIntegerField(_("order"), default=0)
    is_default = models.BooleanField(_("default queue"), default=False)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("service queue")
        verbose_name_plural = _("service queues")
        ordering = ["sort", "pk"]

    def __str__(self) -> str:
        return self.name


class AgentState(models.TextChoices):
    ONLINE = "online", _("Online")
    AWAY = "away", _("Away")
    OFFLINE = "offline", _("Offline")


class AgentStatus(models.Model):
    """An agent's availability. ``load`` counts the conversations assigned to them
    and not closed; it changes only under a lock of this row."""

    operator = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="support_status",
        verbose_name=_("agent"),
    )
    state = models.CharField(
        _("status"), max_length=8, choices=AgentState.choices, default=AgentState.OFFLINE
    )
    capacity = models.PositiveSmallIntegerField(_("capacity"), default=5)
    load = models.PositiveSmallIntegerField(_("open conversations"), default=0)
    #: Empty: every queue.
    queues = models.ManyToManyField(Queue, blank=True, verbose_name=_("queues"))
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    last_assigned_at = models.DateTimeField(_("last assigned"), null=True, blank=True)

    class Meta:
        verbose_name = _("agent status")
        verbose_name_plural = _("agent statuses")
        constraints = [
            models.CheckConstraint(condition=Q(capacity__lte=100), name="agent_capacity_lte_100"),
        ]

    def __str__(self) -> str:
        return f"{self.operator} ({self.get_state_display()})"


class Channel(models.TextChoices):
    IN_APP = "in_app", _("In the mini-program")
    WECHAT_KF = "wechat_kf", _("WeChat contact button")


class ConversationState(models.TextChoices):
    WAITING = "waiting", _("Waiting for an agent")
    OPEN = "open", _("With an agent")
    CLOSED = "closed", _("Closed")


class Conversation(models.Model):
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="support_conversations",
        verbose_name=_("member"),
    )
    channel = models.CharField(
        _("channel"), max_length=12, choices=Channel.choices, default=Channel.IN_APP
    )
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, verbose_name=_("queue"))
    state = models.CharField(
        _("state"),
        max_length=8,
        choices=ConversationState.choices,
        default=ConversationState.WAITING,
        db_index=True,
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_conversations",
        verbose_name=_("agent"),
    )
    order = models.ForeignKey(
        "orders.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("order under discussion"),
    )
    product = models.ForeignKey(
        "catalog.Product",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("product under discussion"),
    )
    created_at = models.DateTimeField(_("opened"), default=timezone.now)
    waiting_since = models.DateTimeField(_("waiting since"), null=True, blank=True)
    assigned_at = models.DateTimeField(_("assigned"), null=True, blank=True)
    first_reply_at = models.DateTimeField(_("first reply"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    last_message_at = models.DateTimeField(_("last message"), null=True, blank=True)
    last_seq = models.PositiveIntegerField(default=0, editable=False)
    member_read_seq = models.PositiveIntegerField(default=0, editable=False)
    agent_read_seq = models.PositiveIntegerField(default=0, editable=False)
    #: WeChat contact-button conversations: when the member last wrote, and how many
    #: replies went out since (WeChat allows 5 within 48 hours of it).
    wx_last_member_at = models.DateTimeField(null=True, blank=True, editable=False)
    wx_replies_used = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-last_message_at", "-pk"]
        indexes = [
            models.Index(fields=["state", "waiting_since"], name="conv_waiting_idx"),
            models.Index(fields=["assignee", "state"], name="conv_assignee_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "channel"],
                condition=~Q(state="closed"),
                name="conv_one_active_per_member_channel",
            ),
            models.CheckConstraint(
                condition=~Q(state="open") | Q(assignee__isnull=False),
                name="conv_open_has_assignee",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.member}"


class SenderKind(models.TextChoices):
    MEMBER = "member", _("Member")
    AGENT = "agent", _("Agent")
    SYSTEM = "system", _("System")


class MessageKind(models.TextChoices):
    TEXT = "text", _("Text")
    IMAGE = "image", _("Image")
    PRODUCT = "product", _("Product card")
    ORDER = "order", _("Order card")
    QUICK_REPLY = "quick_reply", _("Quick reply")
    COUPON = "coupon", _("Coupon card")
    SYSTEM = "system", _("System notice")


class Message(models.Model):
    """One message, written once and never edited: the row is its own record."""

    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="messages",
        verbose_name=_("conversation"),
    )
    seq = models.PositiveIntegerField(_("number"))
    sender = models.CharField(_("from"), max_length=8, choices=SenderKind.choices)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("agent"),
    )
    kind = models.CharField(
        _("kind"), max_length=12, choices=MessageKind.choices, default=MessageKind.TEXT
    )
    text = models.TextField(_("text"), blank=True)
    #: what a card shows (product id/title/price, order number/state, image name…)
    payload = models.JSONField(_("card"), default=dict, blank=True)
    #: the sender's own id for the message: a resend after a reconnect is stored once
    client_id = models.CharField(_("client id"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("sent"), default=timezone.now)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["conversation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="msg_seq_unique"),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=~Q(client_id=""),
                name="msg_client_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.seq}"


class InternalNote(models.Model):
    """A note agents leave on a conversation; members never see it."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    text = models.TextField(_("note"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("internal note")
        verbose_name_plural = _("internal notes")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"note on #{self.conversation_id}"


class HandoffKind(models.TextChoices):
    ASSIGNED = "assigned", _("Assigned automatically")
    CLAIMED = "claimed", _("Claimed")
    TRANSFERRED = "transferred", _("Transferred")
    REQUEUED = "requeued", _("Back to the queue")
    CLOSED = "closed", _("Closed")
    REOPENED = "reopened", _("Reopened")


class Handoff(models.Model):
    """Who had the conversation when: the history a transfer keeps."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="handoffs"
    )
    kind = models.CharField(max_length=12, choices=HandoffKind.choices)
    from_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    to_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    to_queue = models.ForeignKey(Queue, on_delete=models.SET_NULL, null=True, related_name="+")
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("hand-off")
        verbose_name_plural = _("hand-offs")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"#{self.conversation_id} {self.kind}"


class QuickReply(models.Model):
    """A canned answer: shared (no owner) or an agent's own; found with ``/shortcut``."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner (empty: shared)"),
    )
    shortcut = models.SlugField(_("shortcut"), max_length=32, allow_unicode=True)
    language = models.CharField(
        _("language"),
        max_length=8,
        choices=[("zh-hans", "简体中文"), ("en", "English")],
        default="zh-hans",
    )
    title = models.CharField(_("title"), max_length=64)
    text = models.TextField(_("text"), max_length=1000)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("quick reply")
        verbose_name_plural = _("quick replies")
        ordering = ["shortcut", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "shortcut", "language"], name="quickreply_unique_owner"
            ),
            models.UniqueConstraint(
                fields=["shortcut", "language"],
                condition=Q(owner__isnull=True),
                name="quickreply_unique_shared",
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut} {self.title}"


class Csat(models.Model):
    """The member's rating of a closed conversation (once)."""

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="csat")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    rating = models.PositiveSmallIntegerField(_("rating"))
    comment = models.CharField(_("comment"), max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("satisfaction rating")
        verbose_name_plural = _("satisfaction ratings")
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__gte=1) & Q(rating__lte=5), name="csat_rating_1_5"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.conversation_id}: {self.rating}/5"
