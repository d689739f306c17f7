"""Coupon templates and the coupons members hold."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from miniops.core.fields import MoneyField
from miniops.marketing.models.common import window_status


# --- coupons ------------------------------------------------------------------------------
class CouponTemplate(models.Model):
    class Kind(models.TextChoices):
        FIXED = "fixed", _("Fixed amount off")
        PERCENT = "percent", _("Percentage off (with a cap)")
        THRESHOLD = "threshold", _("Spend X, save Y (满减)")
        FREE_SHIPPING = "free_shipping", _("Free shipping")

    class Scope(models.TextChoices):
        ALL = "all", _("Everything")
        CATEGORIES = "categories", _("Some categories")
        PRODUCTS = "products", _("Some products")

    class Issue(models.TextChoices):
        PUBLIC = "public", _("Members claim it")
        ISSUED = "issued", _("Issued by the shop only")

    class AutoRule(models.TextChoices):
        NONE = "", _("None")
        REGISTRATION = "registration", _("On registration")
        BIRTHDAY = "birthday", _("On the member's birthday")
        FIRST_ORDER = "first_order", _("After the first paid order")
        LEVEL_UP = "level_up", _("On reaching a level")

    name = models.CharField(_("name"), max_length=80)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    #: fixed / threshold: fen off; percent: percent off (1-99)
    value = models.PositiveIntegerField(_("value"), default=0)
    #: percent: the most it takes off (fen, 0 = no cap)
    max_discount = MoneyField(_("maximum discount"), default=0)
    #: the order's eligible goods must reach this (fen) for the coupon to apply
    min_spend = MoneyField(_("minimum spend"), default=0)
    scope = models.CharField(
        _("applies to"), max_length=12, choices=Scope.choices, default=Scope.ALL
    )
    categories = models.ManyToManyField(
        "catalog.Category", blank=True, related_name="+", verbose_name=_("categories")
    )
    products = models.ManyToManyField(
        "catalog.Product", blank=True, related_name="+", verbose_name=_("products")
    )
    excluded_products = models.ManyToManyField(
        "catalog.Product", blank=True, related_name="+", verbose_name=_("excluded products")
    )
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    #: when set, each coupon is valid this many days after it was received
    valid_days = models.PositiveSmallIntegerField(
        _("valid days after receiving"), null=True, blank=True
    )
    total_quantity = models.PositiveIntegerField(_("total quantity"), default=0)
    issued_count = models.PositiveIntegerField(_("issued"), default=0)
    per_member_limit = models.PositiveSmallIntegerField(_("per member"), default=1)
    issue = models.CharField(
        _("how members get it"), max_length=8, choices=Issue.choices, default=Issue.PUBLIC
    )
    auto_rule = models.CharField(
        _("automatic issue"), max_length=16, choices=AutoRule.choices, blank=True, default=""
    )
    auto_level = models.ForeignKey(
        "marketing.Level",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("level (for “on reaching a level”, or level-only coupons)"),
    )
    level_only = models.BooleanField(_("only for members of that level and above"), default=False)
    #: on a full refund of the order that used it
    restore_on_refund = models.BooleanField(_("give the coupon back on refund"), default=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(issued_count__lte=F("total_quantity")), name="coupon_not_over_issued"
            ),
            models.CheckConstraint(condition=Q(per_member_limit__gte=1), name="coupon_limit_gte_1"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> str:
        return window_status(self.valid_from, self.valid_until, not self.is_active)


class CouponStatus(models.TextChoices):
    UNUSED = "unused", _("Unused")
    LOCKED = "locked", _("In an unpaid order")
    USED = "used", _("Used")
    EXPIRED = "expired", _("Expired")
    VOIDED = "voided", _("Voided")


class Coupon(models.Model):
    """One coupon a member holds."""

    template = models.ForeignKey(CouponTemplate, on_delete=models.PROTECT, related_name="coupons")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="coupons")
    #: n-th coupon of this template for this member: (template, member, seq) is
    #: unique, so the per-member limit holds under concurrency
    seq = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(
        max_length=8, choices=CouponStatus.choices, default=CouponStatus.UNUSED
    )
    source = models.CharField(max_length=32, default="claim")  # claim, issue, auto:<rule>, points
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    order = models.ForeignKey(
        "orders.Order", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    discount = MoneyField(default=0)
    received_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("member coupon")
        verbose_name_plural = _("member coupons")
        constraints = [
            models.UniqueConstraint(fields=["template", "member", "seq"], name="coupon_member_seq"),
        ]
        indexes = [models.Index(fields=["member", "status"], name="coupon_member_status")]

    def __str__(self) -> str:
        return f"{self.template} → {self.member_id}"
