"""Levels, standings, the points and growth ledgers, level changes, the points shop."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from miniops.marketing.models.coupons import Coupon, CouponTemplate


# --- points and levels --------------------------------------------------------------------
class Level(models.Model):
    name = models.CharField(_("name"), max_length=32)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True)
    growth_threshold = models.PositiveIntegerField(_("growth value needed"), default=0)
    discount_percent = models.PositiveSmallIntegerField(
        _("member price (percent off)"), default=0, help_text=_("0 to 30")
    )
    points_multiplier = models.DecimalField(
        _("points multiplier"), max_digits=3, decimal_places=1, default=1
    )
    free_shipping = models.BooleanField(_("free shipping"), default=False)

    class Meta:
        verbose_name = _("membership level")
        verbose_name_plural = _("membership levels")
        ordering = ["rank"]
        constraints = [
            models.CheckConstraint(
                condition=Q(discount_percent__lte=30), name="level_discount_lte_30"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MemberStanding(models.Model):
    """A member's points balance, growth value and level — derived from the ledgers,
    kept here so checkout reads one row; ``manage.py points_check`` verifies it."""

    member = models.OneToOneField(
        "members.Member", on_delete=models.CASCADE, primary_key=True, related_name="standing"
    )
    points = models.BigIntegerField(default=0)
    growth = models.BigIntegerField(default=0)
    level = models.ForeignKey(
        Level, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sign_in_streak = models.PositiveIntegerField(default=0)
    last_sign_in = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name = _("member standing")
        verbose_name_plural = _("member standings")
        constraints = [
            models.CheckConstraint(condition=Q(points__gte=0), name="points_never_negative")
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.points}"


class PointsEntry(models.Model):
    """The points ledger: append-only (a database trigger refuses updates; see
    migration 0004), one row per movement."""

    class Reason(models.TextChoices):
        PURCHASE = "purchase", _("Purchase")
        SIGN_IN = "sign_in", _("Daily sign-in")
        REFERRAL = "referral", _("Referral")
        REVIEW = "review", _("First review")
        CHECKOUT = "checkout", _("Spent at checkout")
        CHECKOUT_RETURN = "checkout_return", _("Returned from a cancelled order")
        REDEEM = "redeem", _("Redeemed in the points shop")
        REFUND = "refund", _("Reversed by a refund")
        EXPIRY = "expiry", _("Expired")
        ADJUSTMENT = "adjustment", _("Adjustment")

    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="points_entries"
    )
    delta = models.BigIntegerField()
    balance = models.BigIntegerField()
    reason = models.CharField(max_length=16, choices=Reason.choices)
    reference = models.CharField(max_length=64, blank=True, default="")
    note = models.CharField(max_length=255, blank=True, default="")
    #: earned points expire at the end of this day (None: spends, reversals)
    expires_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("points entry")
        verbose_name_plural = _("points ledger")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["member", "created_at"], name="points_member_time")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.delta:+d}"


class GrowthEntry(models.Model):
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    delta = models.BigIntegerField()
    reason = models.CharField(max_length=16)
    reference = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("growth entry")
        verbose_name_plural = _("growth ledger")

    def __str__(self) -> str:
        return f"{self.member_id} {self.delta:+d}"


class LevelChange(models.Model):
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    from_level = models.ForeignKey(Level, on_delete=models.SET_NULL, null=True, related_name="+")
    to_level = models.ForeignKey(Level, on_delete=models.SET_NULL, null=True, related_name="+")
    growth = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("level change")
        verbose_name_plural = _("level changes")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.from_level_id or '—'} → {self.to_level_id}"


class RedeemItem(models.Model):
    """The points shop: a coupon or goods for points."""

    name = models.CharField(_("name"), max_length=80)
    points = models.PositiveIntegerField(_("points"))
    coupon_template = models.ForeignKey(
        CouponTemplate,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("coupon"),
    )
    sku = models.ForeignKey(
        "catalog.Sku",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("goods (SKU)"),
    )
    stock = models.PositiveIntegerField(_("stock"), default=0)
    per_member_limit = models.PositiveSmallIntegerField(_("per member"), default=1)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("points-shop item")
        verbose_name_plural = _("points shop")
        constraints = [
            models.CheckConstraint(
                condition=Q(coupon_template__isnull=False) | Q(sku__isnull=False),
                name="redeem_coupon_or_goods",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Redemption(models.Model):
    item = models.ForeignKey(RedeemItem, on_delete=models.PROTECT, related_name="redemptions")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveSmallIntegerField(default=1)
    points = models.PositiveIntegerField()
    coupon = models.ForeignKey(
        Coupon, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    #: goods are delivered through an order (free, or paying the shipping)
    order = models.OneToOneField(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="redemption"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        constraints = [
            models.UniqueConstraint(fields=["item", "member", "seq"], name="redemption_member_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.item} → {self.member_id}"
