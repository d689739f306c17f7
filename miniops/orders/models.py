"""Carts, orders and their items, payments, shipping, after-sales and refunds.

Every state machine (order, payment, after-sale, refund) is declared in
``miniops.orders.states``; the services move rows with conditional updates
(``UPDATE … WHERE status = <expected>``) so two concurrent actors can never both
win, and each move is written to ``OrderEvent``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from miniops.core.fields import EncryptedTextField, MoneyField


class OrderStatus(models.TextChoices):
    UNPAID = "unpaid", _("Awaiting payment")
    PAID = "paid", _("Paid, to ship")
    SHIPPED = "shipped", _("Shipped")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    CLOSED = "closed", _("Closed (refunded)")


class PaymentStatus(models.TextChoices):
    CREATED = "created", _("Awaiting payment")
    PAID = "paid", _("Paid")
    CLOSED = "closed", _("Closed")


class AfterSaleKind(models.TextChoices):
    REFUND_ONLY = "refund_only", _("Refund only")
    RETURN_REFUND = "return_refund", _("Return and refund")


class AfterSaleStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    AWAITING_RETURN = "awaiting_return", _("Awaiting the return")
    RETURNED = "returned", _("Return shipped")
    REFUNDING = "refunding", _("Refunding")
    REFUNDED = "refunded", _("Refunded")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Withdrawn")


class RefundStatus(models.TextChoices):
    PROCESSING = "processing", _("Processing")
    SUCCESS = "success", _("Refunded")
    FAILED = "failed", _("Failed")


class Carrier(models.TextChoices):
    SF = "SF", _("SF Express")
    ZTO = "ZTO", _("ZTO Express")
    YTO = "YTO", _("YTO Express")
    YD = "YD", _("Yunda Express")
    STO = "STO", _("STO Express")
    JD = "JD", _("JD Logistics")
    EMS = "EMS", _("China Post EMS")
    JT = "JT", _("J&T Express")


class FreightTemplate(models.Model):
    """Shipping fees: first unit(s) and each additional unit, by piece or by weight,
    with region overrides and a free-shipping threshold."""

    class ChargeBy(models.TextChoices):
        PIECE = "piece", _("by piece")
        WEIGHT = "weight", _("by weight (kg)")

    name = models.CharField(_("name"), max_length=64)
    charge_by = models.CharField(
        _("charge by"), max_length=8, choices=ChargeBy.choices, default=ChargeBy.PIECE
    )
    first_units = models.PositiveIntegerField(_("first units"), default=1)
    first_fee = MoneyField(_("first fee"), default=0)
    additional_units = models.PositiveIntegerField(_("additional units"), default=1)
    additional_fee = MoneyField(_("additional fee"), default=0)
    free_over = MoneyField(_("free shipping from"), null=True, blank=True)
    is_default = models.BooleanField(_("default template"), default=False)

    class Meta:
        verbose_name = _("freight template")
        verbose_name_plural = _("freight templates")
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_freight"
            ),
            models.CheckConstraint(
                condition=Q(first_units__gte=1) & Q(additional_units__gte=1),
                name="freight_units_gte_1",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class FreightRule(models.Model):
    """Different fees for some provinces (e.g. 新疆, 西藏)."""

    template = models.ForeignKey(FreightTemplate, on_delete=models.CASCADE, related_name="rules")
    provinces = models.JSONField(_("provinces"), default=list)
    first_fee = MoneyField(_("first fee"), default=0)
    additional_fee = MoneyField(_("additional fee"), default=0)
    no_delivery = models.BooleanField(_("no delivery"), default=False)

    class Meta:
        verbose_name = _("region rule")
        verbose_name_plural = _("region rules")

    def __str__(self) -> str:
        return ", ".join(self.provinces)


class ProductFreight(models.Model):
    """Which template a product ships with (the default template otherwise)."""

    product = models.OneToOneField("catalog.Product", on_delete=models.CASCADE, related_name="+")
    template = models.ForeignKey(FreightTemplate, on_delete=models.PROTECT, related_name="products")

    class Meta:
        verbose_name = _("product freight template")
        verbose_name_plural = _("product freight templates")

    def __str__(self) -> str:
        return f"{self.product_id} → {self.template_id}"


class CartItem(models.Model):
    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="cart_items"
    )
    sku = models.ForeignKey("catalog.Sku", on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField(default=1)
    selected = models.BooleanField(default=True)
    price_when_added = MoneyField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("cart item")
        verbose_name_plural = _("cart items")
        constraints = [
            models.UniqueConstraint(fields=["member", "sku"], name="cart_once_per_sku"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="cart_quantity_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}:{self.sku_id}×{self.quantity}"


class Order(models.Model):
    number = models.CharField(_("order number"), max_length=32, unique=True)
    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="orders", verbose_name=_("member")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=OrderStatus.choices, default=OrderStatus.UNPAID
    )
    goods_amount = MoneyField(_("goods"))
    shipping_fee = MoneyField(_("shipping"), default=0)
    discount_amount = MoneyField(_("discounts"), default=0)
    payable_amount = MoneyField(_("payable"))
    paid_amount = MoneyField(_("paid"), default=0)
    refunded_amount = MoneyField(_("refunded"), default=0)
    #: the pricing pipeline's breakdown at checkout (lines, discounts, shipping)
    pricing = models.JSONField(_("price breakdown"), default=dict)
    recipient = EncryptedTextField(_("recipient"))
    phone = EncryptedTextField(_("phone"))
    phone_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    province = models.CharField(_("province"), max_length=32)
    city = models.CharField(_("city"), max_length=32)
    district = models.CharField(_("district"), max_length=32, blank=True)
    address_detail = EncryptedTextField(_("street address"))
    remark = models.CharField(_("buyer's remark"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), db_index=True)
    expires_at = models.DateTimeField(_("pay before"), null=True, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True, db_index=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.CharField(_("cancel reason"), max_length=64, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    carrier = models.CharField(_("carrier"), max_length=8, choices=Carrier.choices, blank=True)
    tracking_no = models.CharField(_("tracking number"), max_length=40, blank=True)
    completed_at = models.DateTimeField(_("received at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="order_member_idx"),
            models.Index(fields=["status", "expires_at"], name="order_expiry_idx"),
            models.Index(fields=["status", "shipped_at"], name="order_shipped_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(goods_amount__gte=0)
                & Q(shipping_fee__gte=0)
                & Q(discount_amount__gte=0)
                & Q(payable_amount__gte=0)
                & Q(paid_amount__gte=0)
                & Q(refunded_amount__gte=0),
                name="order_amounts_gte_0",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__lte=models.F("paid_amount")),
                name="order_refund_lte_paid",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey("catalog.Sku", on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="+")
    title = models.CharField(_("product"), max_length=120)
    spec_text = models.CharField(_("specification"), max_length=200, blank=True)
    image = models.CharField(max_length=255, blank=True)
    unit_price = MoneyField(_("unit price"))
    quantity = models.PositiveIntegerField(_("quantity"))
    goods_amount = MoneyField(_("goods"))
    discount_share = MoneyField(_("discount share"), default=0)
    paid_share = MoneyField(_("paid share"), default=0)
    refunded_quantity = models.PositiveIntegerField(default=0)
    refunded_amount = MoneyField(default=0)

    class Meta:
        verbose_name = _("order item")
        verbose_name_plural = _("order items")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_item_quantity_gte_1"),
            models.CheckConstraint(
                condition=Q(refunded_quantity__lte=models.F("quantity")),
                name="order_item_refund_qty",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__lte=models.F("paid_share")),
                name="order_item_refund_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} × {self.quantity}"


class OrderEvent(models.Model):
    """The order's timeline: every transition and notable action."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("event"), max_length=32)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    by_member = models.BooleanField(default=False)
    note = models.CharField(_("note"), max_length=255, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("order event")
        verbose_name_plural = _("order timeline")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind}"


class OrderNote(models.Model):
    """Internal notes by operators (never shown to the member)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.CharField(_("note"), max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("internal note")
        verbose_name_plural = _("internal notes")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.text[:40]


class IdempotencyRecord(models.Model):
    """One per (member, Idempotency-Key): the first answer, replayed on retries."""

    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=128)
    scope = models.CharField(max_length=32)
    request_hash = models.CharField(max_length=64)
    in_progress = models.BooleanField(default=True)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.BinaryField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "scope", "key"], name="idempotency_once")
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class Payment(models.Model):
    """One attempt to pay an order through the payment provider."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    out_trade_no = models.CharField(max_length=32, unique=True)
    provider = models.CharField(max_length=16, default="wechat")
    status = models.CharField(
        max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.CREATED
    )
    amount = MoneyField()
    prepay_id = models.CharField(max_length=64, blank=True)
    transaction_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    payer_openid = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    notice = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        indexes = [models.Index(fields=["status", "created_at"], name="payment_status_idx")]

    def __str__(self) -> str:
        return self.out_trade_no


class AfterSale(models.Model):
    number = models.CharField(_("after-sale number"), max_length=32, unique=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="after_sales")
    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=16, choices=AfterSaleKind.choices)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=AfterSaleStatus.choices,
        default=AfterSaleStatus.REQUESTED,
    )
    reason = models.CharField(_("reason"), max_length=64)
    description = models.CharField(_("description"), max_length=500, blank=True)
    images = models.JSONField(_("images"), default=list, blank=True)
    #: [{"item_id": 1, "quantity": 2, "amount": 3980}]
    lines = models.JSONField(default=list)
    amount = MoneyField(_("refund amount"))
    include_shipping = models.BooleanField(default=False)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision_note = models.CharField(_("decision note"), max_length=255, blank=True)
    return_carrier = models.CharField(max_length=8, choices=Carrier.choices, blank=True)
    return_tracking_no = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("after-sale request")
        verbose_name_plural = _("after-sales")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="after_sale_amount_gte_0")
        ]

    def __str__(self) -> str:
        return self.number


class Refund(models.Model):
    out_refund_no = models.CharField(max_length=32, unique=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    after_sale = models.ForeignKey(
        AfterSale, on_delete=models.PROTECT, null=True, blank=True, related_name="refunds"
    )
    amount = MoneyField()
    reason = models.CharField(max_length=80, blank=True)
    status = models.CharField(
        max_length=16, choices=RefundStatus.choices, default=RefundStatus.PROCESSING
    )
    refund_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_gt_0")]

    def __str__(self) -> str:
        return self.out_refund_no


class PaymentAnomaly(models.Model):
    """Something about money that a person must look at (amount mismatch, paid
    after cancel, refund failure)."""

    kind = models.CharField(max_length=32)
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    out_trade_no = models.CharField(max_length=32, blank=True)
    detail = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    resolution_note = models.CharField(_("resolution"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("payment anomaly")
        verbose_name_plural = _("payment anomalies")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.out_trade_no}"


def _register_audit() -> None:
    from auditlog.registry import auditlog

    auditlog.register(FreightTemplate)
    auditlog.register(FreightRule)
    auditlog.register(ProductFreight)


_register_audit()
