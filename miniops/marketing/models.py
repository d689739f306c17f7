"""Marketing tools: coupons, points and membership levels, flash sales, group buys
and time-limited discounts. Every price they give goes through the one pricing
pipeline of ``orders.pricing`` (see ``marketing/pricing.py`` for the order in
which they take precedence)."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from miniops.core.fields import MoneyField


class CampaignStatus(models.TextChoices):
    UPCOMING = "upcoming", _("Upcoming")
    RUNNING = "running", _("Running")
    ENDED = "ended", _("Ended")


def window_status(starts_at: object, ends_at: object, ended_early: bool = False) -> str:
    now = timezone.now()
    if ended_early or (ends_at is not None and ends_at <= now):  # type: ignore[operator]
        return CampaignStatus.ENDED
    if starts_at is not None and starts_at > now:  # type: ignore[operator]
        return CampaignStatus.UPCOMING
    return CampaignStatus.RUNNING


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
    max_discount = MoneyField(_("maximum discount (fen)"), default=0)
    #: the order's eligible goods must reach this (fen) for the coupon to apply
    min_spend = MoneyField(_("minimum spend (fen)"), default=0)
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
        return f"{self.member_id}: {self.from_level_id} → {self.to_level_id}"


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


# --- flash sales ----------------------------------------------------------------------------
class FlashSession(models.Model):
    name = models.CharField(_("name"), max_length=80)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    ended_early_at = models.DateTimeField(_("ended early at"), null=True, blank=True)
    pay_minutes = models.PositiveSmallIntegerField(_("minutes to pay"), default=5)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("flash sale")
        verbose_name_plural = _("flash sales")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="flash_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> str:
        return window_status(self.starts_at, self.ends_at, self.ended_early_at is not None)


class FlashItem(models.Model):
    session = models.ForeignKey(FlashSession, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey(
        "catalog.Sku", on_delete=models.PROTECT, related_name="+", verbose_name=_("SKU")
    )
    flash_price = MoneyField(_("flash price (fen)"))
    stock = models.PositiveIntegerField(_("flash stock"))
    sold = models.PositiveIntegerField(_("sold"), default=0)
    per_member_limit = models.PositiveSmallIntegerField(_("per member"), default=1)

    class Meta:
        verbose_name = _("flash-sale item")
        verbose_name_plural = _("flash-sale items")
        constraints = [
            models.UniqueConstraint(fields=["session", "sku"], name="flash_item_once_per_session"),
            models.CheckConstraint(condition=Q(sold__lte=F("stock")), name="flash_never_oversold"),
            models.CheckConstraint(condition=Q(flash_price__gt=0), name="flash_price_gt_0"),
            models.CheckConstraint(condition=Q(per_member_limit__gte=1), name="flash_limit_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.session}: {self.sku_id}"


class FlashPurchase(models.Model):
    """How many units of a flash item a member holds in live orders."""

    item = models.ForeignKey(FlashItem, on_delete=models.CASCADE, related_name="purchases")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("flash-sale purchase")
        verbose_name_plural = _("flash-sale purchases")
        constraints = [
            models.UniqueConstraint(fields=["item", "member"], name="flash_purchase_once")
        ]

    def __str__(self) -> str:
        return f"{self.item_id} {self.member_id} × {self.quantity}"


class FlashOrder(models.Model):
    """Which flash item (and how many) an order bought: released with the order."""

    order = models.OneToOneField("orders.Order", on_delete=models.CASCADE, related_name="flash")
    item = models.ForeignKey(FlashItem, on_delete=models.PROTECT, related_name="orders")
    quantity = models.PositiveIntegerField()
    released = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("flash-sale order")
        verbose_name_plural = _("flash-sale orders")

    def __str__(self) -> str:
        return f"{self.order_id} ← {self.item_id}"


# --- group buys ----------------------------------------------------------------------------
class GroupBuy(models.Model):
    name = models.CharField(_("name"), max_length=80)
    sku = models.ForeignKey(
        "catalog.Sku", on_delete=models.PROTECT, related_name="+", verbose_name=_("SKU")
    )
    group_price = MoneyField(_("group price (fen)"))
    group_size = models.PositiveSmallIntegerField(_("group size"), default=2)
    hours_to_fill = models.PositiveSmallIntegerField(_("hours to fill a group"), default=24)
    per_member_limit = models.PositiveSmallIntegerField(_("per member"), default=1)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    ended_early_at = models.DateTimeField(_("ended early at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("group buy")
        verbose_name_plural = _("group buys")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(group_size__gte=2), name="group_size_gte_2"),
            models.CheckConstraint(condition=Q(group_price__gt=0), name="group_price_gt_0"),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="group_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> str:
        return window_status(self.starts_at, self.ends_at, self.ended_early_at is not None)


class GroupStatus(models.TextChoices):
    FORMING = "forming", _("Forming")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed (refunded)")


class Group(models.Model):
    """One group: opened by a member's paid order, joined by others' paid orders."""

    group_buy = models.ForeignKey(GroupBuy, on_delete=models.PROTECT, related_name="groups")
    leader = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=16, unique=True)  # the share link's id
    status = models.CharField(
        max_length=10, choices=GroupStatus.choices, default=GroupStatus.FORMING
    )
    paid_count = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("group")
        verbose_name_plural = _("groups")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.code


class GroupMember(models.Model):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="members")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    order = models.OneToOneField(
        "orders.Order", on_delete=models.PROTECT, related_name="group_member"
    )
    paid = models.BooleanField(default=False)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("group member")
        verbose_name_plural = _("group members")
        constraints = [
            models.UniqueConstraint(fields=["group", "member"], name="group_member_once")
        ]

    def __str__(self) -> str:
        return f"{self.group_id} {self.member_id}"


# --- time-limited discounts -----------------------------------------------------------------
class TimedDiscount(models.Model):
    """A price override for a product (all its SKUs) or one SKU in a window."""

    name = models.CharField(_("name"), max_length=80)
    product = models.ForeignKey(
        "catalog.Product",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("product"),
    )
    sku = models.ForeignKey(
        "catalog.Sku",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("SKU"),
    )
    #: percent off (1-99) or a fixed price for the SKU
    percent_off = models.PositiveSmallIntegerField(_("percent off"), null=True, blank=True)
    price = MoneyField(_("price (fen)"), null=True, blank=True)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    ended_early_at = models.DateTimeField(_("ended early at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("time-limited discount")
        verbose_name_plural = _("time-limited discounts")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(product__isnull=False) | Q(sku__isnull=False),
                name="discount_has_target",
            ),
            models.CheckConstraint(
                condition=Q(percent_off__isnull=False) | Q(price__isnull=False),
                name="discount_has_amount",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="discount_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> str:
        return window_status(self.starts_at, self.ends_at, self.ended_early_at is not None)


def _register_audit() -> None:
    """Operators' changes to campaigns go to the audit log (counters that move
    with every sale are updated in place and never logged)."""
    from auditlog.registry import auditlog

    auditlog.register(
        CouponTemplate,
        exclude_fields=["issued_count"],
        m2m_fields={"categories", "products", "excluded_products"},
    )
    auditlog.register(Level)
    auditlog.register(RedeemItem)
    auditlog.register(FlashSession)
    auditlog.register(FlashItem, exclude_fields=["sold"])
    auditlog.register(GroupBuy)
    auditlog.register(TimedDiscount)


_register_audit()
