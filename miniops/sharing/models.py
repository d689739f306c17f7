"""Share links (one short code per member × target), the visits they bring,
attributions of members and orders to a sharer, and rewards as ledger rows.

A share code is only a key: the QR code's ``scene`` and the share card's path
carry ``s=<code>`` and the server maps it to the sharer and the target (WeChat's
``scene`` holds at most 32 visible characters, too few for two ids).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from miniops.core.ledger import LedgerEntry


class TargetType(models.TextChoices):
    PRODUCT = "product", _("Product")
    FLASH_SALE = "flash_sale", _("Flash sale")
    GROUP_BUY = "group_buy", _("Group buy")
    CAMPAIGN = "campaign", _("Campaign")
    ARTICLE = "article", _("Article")
    PAGE = "page", _("Page")


class AttributionModel(models.TextChoices):
    FIRST_TOUCH = "first_touch", _("First touch")
    LAST_TOUCH = "last_touch", _("Last touch")


class RewardKind(models.TextChoices):
    POINTS = "points", _("Points")
    COUPON = "coupon", _("Coupon")


class RewardTrigger(models.TextChoices):
    REGISTRATION = "registration", _("Registration")
    FIRST_ORDER = "first_order", _("First completed order")


class ShareRules(models.Model):
    """The attribution and reward rules (one row, edited in the console)."""

    model = models.CharField(
        _("attribution model"),
        max_length=12,
        choices=AttributionModel.choices,
        default=AttributionModel.LAST_TOUCH,
    )
    window_days = models.PositiveSmallIntegerField(_("attribution window (days)"), default=7)
    new_members_only = models.BooleanField(
        _("new members only"),
        default=False,
        help_text=_("Attribute only members who registered through a share."),
    )
    reward_registration = models.BooleanField(_("reward a registration"), default=True)
    reward_first_order = models.BooleanField(_("reward a first completed order"), default=True)
    reward_kind = models.CharField(
        _("reward"), max_length=8, choices=RewardKind.choices, default=RewardKind.POINTS
    )
    registration_points = models.PositiveIntegerField(_("points for a registration"), default=200)
    first_order_points = models.PositiveIntegerField(_("points for a first order"), default=500)
    second_level_points = models.PositiveIntegerField(_("points for the second level"), default=100)
    coupon_template = models.ForeignKey(
        "marketing.CouponTemplate",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("coupon to give"),
    )
    levels = models.PositiveSmallIntegerField(
        _("levels rewarded"), default=1, help_text=_("1 or 2; never more.")
    )
    freeze_days = models.PositiveSmallIntegerField(_("days a reward stays frozen"), default=7)
    velocity_max = models.PositiveSmallIntegerField(_("registrations per device or IP"), default=3)
    velocity_hours = models.PositiveSmallIntegerField(_("within hours"), default=24)
    experiment = models.CharField(
        _("reward experiment key"),
        max_length=64,
        blank=True,
        help_text=_("When set, invitees are split between the base reward and double points."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("sharing rules")
        verbose_name_plural = _("sharing rules")
        constraints = [
            models.CheckConstraint(condition=Q(levels__gte=1, levels__lte=2), name="share_levels"),
            models.CheckConstraint(
                condition=Q(window_days__gte=1, window_days__lte=90), name="share_window_days"
            ),
        ]

    def __str__(self) -> str:
        return str(_("Sharing rules"))


class ShareLink(models.Model):
    """One member's code for one target, created on their first share."""

    code = models.CharField(_("code"), max_length=16, unique=True)
    sharer = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="share_links",
        verbose_name=_("sharer"),
    )
    target_type = models.CharField(_("target"), max_length=12, choices=TargetType.choices)
    #: the target's id (0 for a page, which is named by ``page``)
    target_id = models.BigIntegerField(_("target id"), default=0)
    page = models.CharField(_("page"), max_length=120, blank=True, default="")
    #: the sharer's device when they first shared (self-referral check)
    device_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    shares = models.PositiveIntegerField(_("shares"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    last_shared_at = models.DateTimeField(_("last shared"), null=True, blank=True)

    class Meta:
        verbose_name = _("share link")
        verbose_name_plural = _("share links")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sharer", "target_type", "target_id", "page"], name="share_link_once"
            )
        ]

    def __str__(self) -> str:
        return self.code


class ShareAct(models.Model):
    """A member asked for a share card or poster (the only trace of a share:
    WeChat has no share-success callback). Never rewarded."""

    link = models.ForeignKey(
        ShareLink, on_delete=models.CASCADE, related_name="acts", verbose_name=_("share link")
    )
    channel = models.CharField(_("channel"), max_length=8, default="card")
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("share")
        verbose_name_plural = _("shares")

    def __str__(self) -> str:
        return f"{self.link_id} {self.at:%Y-%m-%d %H:%M}"


class ShareVisit(models.Model):
    """Someone opened the mini-program through a code."""

    link = models.ForeignKey(
        ShareLink, on_delete=models.CASCADE, related_name="visits", verbose_name=_("share link")
    )
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("member"),
    )
    anonymous_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    device_hash = models.CharField(max_length=64, blank=True, default="")
    ip_hash = models.CharField(max_length=64, blank=True, default="")
    scene = models.PositiveIntegerField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("share visit")
        verbose_name_plural = _("share visits")
        indexes = [models.Index(fields=["member", "at"], name="share_visit_member_at")]

    def __str__(self) -> str:
        return f"{self.link_id} {self.at:%Y-%m-%d %H:%M}"


class Attribution(models.Model):
    """A member brought by a sharer: at registration (new) or later (existing)."""

    invitee = models.OneToOneField(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="share_attribution",
        verbose_name=_("invitee"),
    )
    sharer = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="+", verbose_name=_("sharer")
    )
    link = models.ForeignKey(
        ShareLink,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="attributions",
        verbose_name=_("share link"),
    )
    model = models.CharField(
        _("attribution model"), max_length=12, choices=AttributionModel.choices
    )
    is_new_member = models.BooleanField(_("new member"), default=True)
    #: empty when it counts; otherwise why it does not (self_referral, loop, ...)
    blocked_reason = models.CharField(_("blocked because"), max_length=32, blank=True, default="")
    device_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    ip_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    bound_at = models.DateTimeField(_("attributed at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("member attribution")
        verbose_name_plural = _("member attributions")

    def __str__(self) -> str:
        return f"{self.invitee_id} ← {self.sharer_id}"


class OrderAttribution(models.Model):
    """The sharer an order counts for, with the rule that decided it."""

    order = models.OneToOneField(
        "orders.Order",
        on_delete=models.CASCADE,
        related_name="share_attribution",
        verbose_name=_("order"),
    )
    sharer = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="+", verbose_name=_("sharer")
    )
    link = models.ForeignKey(
        ShareLink,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("share link"),
    )
    model = models.CharField(
        _("attribution model"), max_length=12, choices=AttributionModel.choices
    )
    window_days = models.PositiveSmallIntegerField(_("attribution window (days)"))
    touched_at = models.DateTimeField(_("touched at"))
    #: why this sharer: "visit" (a share visit in the window) or "registration"
    source = models.CharField(_("decided by"), max_length=16)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("order attribution")
        verbose_name_plural = _("order attributions")

    def __str__(self) -> str:
        return f"{self.order_id} ← {self.sharer_id}"


class RewardStatus(models.TextChoices):
    FROZEN = "frozen", _("Frozen")
    AVAILABLE = "available", _("Available")
    CLAWED_BACK = "clawed_back", _("Clawed back")
    BLOCKED = "blocked", _("Blocked")


class Reward(LedgerEntry):
    """A reward for a sharer, one per (trigger, invitee, level): queued (frozen)
    until ``due_at``, then granted (done); skipped when blocked, with the reason;
    cancelled or reversed when the order is refunded — points in proportion to the
    amount refunded, a coupon only when the whole order is refunded (decision 0022)."""

    beneficiary = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="share_rewards",
        verbose_name=_("sharer"),
    )
    invitee = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="+", verbose_name=_("invitee")
    )
    order = models.ForeignKey(
        "orders.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("order"),
    )
    link = models.ForeignKey(
        ShareLink,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="rewards",
        verbose_name=_("share link"),
    )
    trigger = models.CharField(_("for"), max_length=16, choices=RewardTrigger.choices)
    level = models.PositiveSmallIntegerField(_("level"), default=1)
    kind = models.CharField(_("reward"), max_length=8, choices=RewardKind.choices)
    points = models.PositiveIntegerField(_("points"), default=0)
    #: points taken back by partial refunds so far (proportional to the amount refunded);
    #: a frozen reward pays ``points - clawed_points`` when it is released
    clawed_points = models.PositiveIntegerField(_("points clawed back"), default=0)
    coupon_template = models.ForeignKey(
        "marketing.CouponTemplate",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("coupon to give"),
    )
    coupon = models.ForeignKey(
        "marketing.Coupon",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("coupon"),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=RewardStatus.choices, default=RewardStatus.FROZEN
    )
    variant = models.CharField(_("variant"), max_length=32, blank=True, default="")

    class Meta(LedgerEntry.Meta):
        verbose_name = _("share reward")
        verbose_name_plural = _("share rewards")
        ordering = ["-created_at", "-id"]
        indexes = [
            *LedgerEntry.Meta.indexes,
            models.Index(fields=["status", "created_at"], name="share_reward_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(clawed_points__lte=models.F("points")),
                name="share_reward_clawed_le_points",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.invitee_id} → {self.beneficiary_id}"


class QrImage(models.Model):
    """A mini-program code image, fetched once per (scene, page, width)."""

    scene = models.CharField(max_length=32)
    page = models.CharField(max_length=120)
    width = models.PositiveSmallIntegerField(default=430)
    file = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("mini-program code")
        verbose_name_plural = _("mini-program codes")
        constraints = [
            models.UniqueConstraint(fields=["scene", "page", "width"], name="qr_image_once")
        ]

    def __str__(self) -> str:
        return f"{self.page}?{self.scene}"


def _register_audit() -> None:
    from auditlog.registry import auditlog

    auditlog.register(ShareRules, exclude_fields=["updated_at"])


_register_audit()
