"""Time-limited discounts."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from miniops.core.fields import MoneyField
from miniops.marketing.models.common import window_status


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
    price = MoneyField(_("price"), null=True, blank=True)
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
