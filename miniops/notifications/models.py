"""Push messages: WeChat subscribe-message templates, the consent each member gave
per template, push settings, campaigns and the delivery ledger.

The consent ledger is what makes a send legal: WeChat lets a mini-program send a
one-time template message only after the member tapped "accept" in
``wx.requestSubscribeMessage``, once per accept. ``Consent.remaining`` counts
those accepts, goes down in the same transaction that starts a send, and a send
is never attempted without it — so WeChat's 43101 ("no consent") does not happen
in normal operation.

Every send (or deliberate non-send: the holdout, a cap, quiet hours) is one
``Delivery`` row of the core ledger, unique per campaign × member × occurrence.
"""

from __future__ import annotations

from datetime import time

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from miniops.core.ledger import LedgerEntry


class TemplateKind(models.TextChoices):
    ONE_TIME = "one_time", _("one-time")
    LONG_TERM = "long_term", _("long-term")


class MessageTemplate(models.Model):
    """A subscribe-message template of the mini-program's account, as WeChat lists
    it (``getTemplateList``): its keywords and their types come from the content,
    e.g. ``{{thing1.DATA}}`` is a ``thing`` (at most 20 characters)."""

    wx_template_id = models.CharField(_("WeChat template id"), max_length=64, unique=True)
    title = models.CharField(_("title"), max_length=64)
    kind = models.CharField(
        _("kind"), max_length=12, choices=TemplateKind.choices, default=TemplateKind.ONE_TIME
    )
    #: [{"key": "thing1", "name": "商品名称", "rule": "thing"}, …] in the template's order
    keywords = models.JSONField(_("keywords"), default=list)
    content = models.TextField(_("content"), blank=True)
    example = models.TextField(_("example"), blank=True)
    #: False once WeChat no longer lists it (deleted from the account)
    is_active = models.BooleanField(_("active"), default=True)
    synced_at = models.DateTimeField(_("synced at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["title", "pk"]

    def __str__(self) -> str:
        return self.title

    def rules(self) -> dict[str, str]:
        return {str(k["key"]): str(k["rule"]) for k in self.keywords if isinstance(k, dict)}


class Choice(models.TextChoices):
    """What ``wx.requestSubscribeMessage`` answered for one template."""

    ACCEPT = "accept", _("accepted")
    REJECT = "reject", _("rejected")
    BAN = "ban", _("banned by WeChat")
    FILTER = "filter", _("filtered (title repeated)")


class Consent(models.Model):
    """What a member allowed for one template: ``remaining`` one-time sends (one
    per accept), or a standing permission for long-term templates."""

    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )
    template = models.ForeignKey(
        MessageTemplate,
        on_delete=models.CASCADE,
        related_name="consents",
        verbose_name=_("template"),
    )
    remaining = models.PositiveIntegerField(_("sends left"), default=0)
    long_term = models.BooleanField(_("long-term"), default=False)
    last_choice = models.CharField(
        _("last choice"), max_length=8, choices=Choice.choices, blank=True
    )
    accepted_total = models.PositiveIntegerField(_("accepted in total"), default=0)
    used_total = models.PositiveIntegerField(_("used in total"), default=0)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        constraints = [
            models.UniqueConstraint(fields=["member", "template"], name="consent_member_template"),
        ]
        indexes = [models.Index(fields=["template", "remaining"], name="consent_reach_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} × {self.template_id}: {self.remaining}"


class SubscriptionReport(models.Model):
    """One ``POST /subscriptions`` (idempotent by the client's ``request_id``: a
    resent report changes nothing)."""

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    request_id = models.CharField(max_length=64)
    results = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("subscription report")
        verbose_name_plural = _("subscription reports")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "request_id"], name="subscription_report_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id}:{self.request_id}"


class QuietPolicy(models.TextChoices):
    DEFER = "defer", _("defer to the morning")
    DROP = "drop", _("drop")


class Purpose(models.TextChoices):
    """Transactional notices and reminders that settings map to a template."""

    ORDER_SHIPPED = "order_shipped", _("order shipped")
    REFUND_DONE = "refund_done", _("refund done")
    COUPON_EXPIRING = "coupon_expiring", _("coupon expiring")
    FLASH_REMINDER = "flash_reminder", _("flash-sale reminder")
    SERVICE_REPLY = "service_reply", _("customer-service reply")


class PushSettings(models.Model):
    """The one row of push settings (id is always 1)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    order_shipped = models.ForeignKey(
        MessageTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("order shipped"),
    )
    refund_done = models.ForeignKey(
        MessageTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("refund done"),
    )
    coupon_expiring = models.ForeignKey(
        MessageTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("coupon expiring"),
    )
    flash_reminder = models.ForeignKey(
        MessageTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("flash-sale reminder"),
    )
    service_reply = models.ForeignKey(
        MessageTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("customer-service reply"),
    )
    quiet_start = models.TimeField(
        _("quiet hours from"),
        default=time(22, 0),
        help_text=_("In the business time zone; marketing messages wait or are dropped."),
    )
    quiet_end = models.TimeField(_("quiet hours until"), default=time(8, 0))
    quiet_policy = models.CharField(
        _("default for quiet hours"),
        max_length=8,
        choices=QuietPolicy.choices,
        default=QuietPolicy.DEFER,
    )
    daily_cap = models.PositiveSmallIntegerField(
        _("messages per member per day"),
        default=2,
        validators=[MaxValueValidator(100)],
        help_text=_("Across all campaigns; 0 means no limit. Transactional notices don't count."),
    )
    weekly_cap = models.PositiveSmallIntegerField(
        _("messages per member per week"), default=5, validators=[MaxValueValidator(500)]
    )
    holdout_pct = models.PositiveSmallIntegerField(
        _("default control group (%)"), default=10, validators=[MaxValueValidator(50)]
    )
    attribution_days = models.PositiveSmallIntegerField(
        _("attribution window (days)"),
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(90)],
    )
    approval_threshold = models.PositiveIntegerField(
        _("large campaign from (members)"),
        default=1000,
        help_text=_("Sending to more members needs the 'send campaigns' permission."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("push settings")
        verbose_name_plural = _("push settings")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="push_settings_singleton")]

    def __str__(self) -> str:
        return str(_("Push settings"))


class CampaignKind(models.TextChoices):
    ONE_OFF = "one_off", _("one-off")
    RECURRING = "recurring", _("recurring")
    TRIGGERED = "triggered", _("triggered")
    TRANSACTIONAL = "transactional", _("transactional notice")


class Trigger(models.TextChoices):
    ABANDONED_CART = "abandoned_cart", _("abandoned cart")
    COUPON_EXPIRING = "coupon_expiring", _("coupon expiring")
    SEGMENT_ENTERED = "segment_entered", _("entered a segment")
    BIRTHDAY = "birthday", _("birthday")
    FLASH_REMINDER = "flash_reminder", _("flash-sale reminder (members who asked)")
    BACK_IN_STOCK = "back_in_stock", _("back in stock (members who asked)")
    NEW_PRODUCT = "new_product", _("new product in a category the member bought")
    ORDER_SHIPPED = "order_shipped", _("order shipped")
    REFUND_DONE = "refund_done", _("refund done")


class WatchKind(models.TextChoices):
    """What a member asked to be told about from the mini-program."""

    FLASH_SESSION = "flash_session", _("flash sale starting")
    BACK_IN_STOCK = "back_in_stock", _("back in stock")


class WatchOutcome(models.TextChoices):
    """How a reminder request was closed (blank while it is open)."""

    PLANNED = "planned", _("answered by a campaign")
    NOT_IN_AUDIENCE = "not_in_audience", _("not sent: outside every campaign's audience")
    NO_CONSENT = "no_consent", _("not sent: no consent for the campaign's message")
    NO_CAMPAIGN = "no_campaign", _("not sent: no reminder campaign was running")
    ENDED = "ended", _("not sent: the flash sale was called off")


class Watch(models.Model):
    """A member's "remind me" (a flash session, ``ref`` its id) or "tell me when
    it is back" (a SKU, ``ref`` its id). Open until exactly one triggered campaign
    that can reach the member plans its delivery (``notified_at``, ``campaign``,
    outcome ``planned``), or, for a flash sale, until the sale starts with no
    campaign able to (closed with the reason why); at most one open watch per
    member, kind and ref."""

    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=WatchKind.choices)
    ref = models.PositiveBigIntegerField(_("flash sale or SKU id"))
    created_at = models.DateTimeField(_("asked at"), default=timezone.now)
    notified_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=20, choices=WatchOutcome.choices, blank=True, default=""
    )
    #: the campaign whose delivery answered the request (its occurrence is
    #: ``<kind>:<watch id>``)
    campaign = models.ForeignKey(
        "Campaign",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("answered by"),
    )

    class Meta:
        verbose_name = _("reminder request")
        verbose_name_plural = _("reminder requests")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "kind", "ref"],
                condition=Q(notified_at__isnull=True),
                name="watch_open_once",
            )
        ]
        indexes = [models.Index(fields=["kind", "ref", "notified_at"], name="watch_open_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.kind}:{self.ref}"

    @property
    def occurrence(self) -> str:
        return f"{self.kind}:{self.pk}"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    SCHEDULED = "scheduled", _("scheduled")
    RUNNING = "running", _("running")
    PAUSED = "paused", _("paused")
    COMPLETED = "completed", _("completed")
    CANCELLED = "cancelled", _("cancelled")


class Campaign(models.Model):
    """Who gets what, when: a subscribe message and/or a coupon for an audience
    (one-off or recurring) or for the member a trigger names."""

    name = models.CharField(_("name"), max_length=64)
    kind = models.CharField(
        _("kind"), max_length=16, choices=CampaignKind.choices, default=CampaignKind.ONE_OFF
    )
    trigger = models.CharField(_("trigger"), max_length=20, choices=Trigger.choices, blank=True)
    #: the trigger's N: minutes for an abandoned cart, days for an expiring coupon
    trigger_value = models.PositiveIntegerField(
        _("trigger after / before"),
        default=0,
        validators=[MaxValueValidator(100_000)],
        help_text=_(
            "Abandoned cart: minutes without an order. Coupon expiring: days before. "
            "Flash-sale reminder: minutes before the start. New product: bought in the "
            "category within this many days (0: ever)."
        ),
    )
    audience = models.CharField(
        _("audience"),
        max_length=100,
        blank=True,
        help_text=_("A segment or a member tag, with its number of members today."),
    )
    template = models.ForeignKey(
        MessageTemplate,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        verbose_name=_("message template"),
    )
    #: keyword -> text with placeholders ({nickname}, {coupon_name}, …)
    data = models.JSONField(_("message fields"), default=dict, blank=True)
    page = models.CharField(
        _("page"), max_length=128, blank=True, help_text=_("Mini-program page the message opens.")
    )
    coupon = models.ForeignKey(
        "marketing.CouponTemplate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("coupon to issue"),
    )
    holdout_pct = models.PositiveSmallIntegerField(
        _("control group (%)"), default=10, validators=[MaxValueValidator(50)]
    )
    #: A/B variants of the message: [{"name": "B", "weight": 0.5, "data": {...}}]
    variants = models.JSONField(_("variants"), default=list, blank=True)
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    cron = models.CharField(
        _("repeat (cron)"), max_length=64, blank=True, help_text=_("e.g. 0 10 * * 1")
    )
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True)
    quiet_policy = models.CharField(
        _("during quiet hours"), max_length=8, choices=QuietPolicy.choices, blank=True
    )
    attribution_days = models.PositiveSmallIntegerField(
        _("attribution window (days)"),
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(90)],
    )
    status = models.CharField(
        _("status"), max_length=12, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    #: reasons the last run left members out, counted (no_consent, capped, …)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True, editable=False)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "kind"], name="campaign_status_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def cid(self) -> str:
        """The campaign id the message's page carries (``?cid=``)."""
        return f"c{self.pk}"


class Group(models.TextChoices):
    TREATMENT = "treatment", _("treatment")
    CONTROL = "control", _("control (held out)")


class Delivery(LedgerEntry):
    """One campaign × member × occurrence: a message (and/or coupon) to send, or a
    member deliberately not messaged (``control``, reason ``holdout``)."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("campaign")
    )
    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )
    occurrence = models.CharField(_("occurrence"), max_length=64, default="once")
    group = models.CharField(
        _("group"), max_length=10, choices=Group.choices, default=Group.TREATMENT
    )
    variant = models.CharField(_("variant"), max_length=16, blank=True)
    #: what the trigger knew (order number, coupon name…) for the message's placeholders
    context = models.JSONField(default=dict, blank=True)
    #: when the send was attempted (the consent was taken); counts toward caps
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    errcode = models.IntegerField(_("WeChat error"), null=True, blank=True)
    msgid = models.CharField(_("WeChat message id"), max_length=64, blank=True)
    coupon_id = models.BigIntegerField(_("coupon issued"), null=True, blank=True)

    class Meta(LedgerEntry.Meta):
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "member", "occurrence"], name="delivery_once"
            )
        ]
        indexes = [
            *LedgerEntry.Meta.indexes,
            models.Index(fields=["member", "sent_at"], name="delivery_member_sent_idx"),
            models.Index(fields=["campaign", "state"], name="delivery_campaign_state_idx"),
        ]

    def __str__(self) -> str:
        return self.key


def _register_audit() -> None:
    from auditlog.registry import auditlog

    auditlog.register(MessageTemplate)
    auditlog.register(PushSettings)
    auditlog.register(Campaign)


_register_audit()
