"""Flash sessions, their items, purchases and orders."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from miniops.core.fields import MoneyField
from miniops.marketing.models.common import window_status


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
    flash_price = MoneyField(_("flash price"))
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
