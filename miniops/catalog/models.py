"""Categories, brands, products (SPU) and their SKUs, and the stock ledger."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from miniops.core.fields import MoneyField

MAX_CATEGORY_DEPTH = 3


class Category(models.Model):
    """A node of the category tree (at most three levels)."""

    name = models.CharField(_("name"), max_length=32)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent"),
    )
    level = models.PositiveSmallIntegerField(_("level"), default=1, editable=False)
    sort = models.IntegerField(_("sort order"), default=0, help_text=_("Smaller comes first."))
    icon = models.ImageField(_("icon"), upload_to="catalog/categories/", blank=True)
    is_active = models.BooleanField(_("shown"), default=True)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["level", "sort", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(level__gte=1) & Q(level__lte=MAX_CATEGORY_DEPTH),
                name="category_level_1_to_3",
            ),
            models.UniqueConstraint(
                fields=["parent", "name"], name="category_unique_name_in_parent"
            ),
            # NULL parents never collide in a unique constraint: roots need their own.
            models.UniqueConstraint(
                fields=["name"], condition=Q(parent__isnull=True), name="category_unique_root_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def path(self) -> str:
        """The full path from the root, “服装 / 女装 / 连衣裙” (parents loaded
        with ``select_related("parent__parent")`` cost no query)."""
        chain: list[Category] = [self]
        while chain[-1].parent_id and len(chain) < MAX_CATEGORY_DEPTH:
            parent = chain[-1].parent
            assert parent is not None
            chain.append(parent)
        return " / ".join(node.name for node in reversed(chain))


class Brand(models.Model):
    name = models.CharField(_("name"), max_length=64, unique=True)
    logo = models.ImageField(_("logo"), upload_to="catalog/brands/", blank=True)
    sort = models.IntegerField(_("sort order"), default=0)
    is_active = models.BooleanField(_("shown"), default=True)

    class Meta:
        verbose_name = _("brand")
        verbose_name_plural = _("brands")
        ordering = ["sort", "name"]

    def __str__(self) -> str:
        return self.name


class ProductStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ON_SALE = "on_sale", _("On sale")
    OFF_SHELF = "off_shelf", _("Off shelf")


class Product(models.Model):
    """A product (SPU). Buyers choose one of its SKUs."""

    title = models.CharField(_("title"), max_length=120)
    subtitle = models.CharField(_("subtitle"), max_length=200, blank=True)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="products", verbose_name=_("category")
    )
    brand = models.ForeignKey(
        Brand,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="products",
        verbose_name=_("brand"),
    )
    description = models.TextField(
        _("description"), blank=True, help_text=_("HTML; unsafe tags and attributes are removed.")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=ProductStatus.choices, default=ProductStatus.DRAFT
    )
    publish_at = models.DateTimeField(_("go on sale at"), null=True, blank=True)
    unpublish_at = models.DateTimeField(_("go off shelf at"), null=True, blank=True)
    sort_weight = models.IntegerField(
        _("sort weight"), default=0, help_text=_("Larger comes first.")
    )
    #: [{"name": "颜色", "values": ["红", "蓝"]}, ...] — the SKU matrix is built from it.
    specs = models.JSONField(_("specifications"), default=list, blank=True)
    #: Lowest active SKU price, kept by services for listing and price filters.
    min_price = MoneyField(_("lowest price"), default=0)
    sales_count = models.PositiveIntegerField(_("sold"), default=0)
    cover = models.CharField(_("cover image"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    listed_at = models.DateTimeField(_("listed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["-sort_weight", "-id"]
        indexes = [
            models.Index(
                fields=["status", "category", "-sort_weight", "-id"], name="product_list_idx"
            ),
            models.Index(fields=["status", "-sales_count", "-id"], name="product_sales_idx"),
            models.Index(fields=["status", "min_price", "id"], name="product_price_idx"),
            models.Index(fields=["status", "-listed_at", "-id"], name="product_new_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(min_price__gte=0), name="product_min_price_gte_0")
        ]

    def __str__(self) -> str:
        return self.title


class ProductImage(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(_("image"), upload_to="catalog/products/")
    sort = models.IntegerField(_("sort order"), default=0)

    class Meta:
        verbose_name = _("product image")
        verbose_name_plural = _("product images")
        ordering = ["sort", "id"]

    def __str__(self) -> str:
        return self.image.name or ""


class Sku(models.Model):
    """One buyable combination of a product's specifications."""

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="skus", verbose_name=_("product")
    )
    code = models.CharField(_("SKU code"), max_length=64, unique=True)
    #: {"颜色": "红", "尺码": "M"}
    spec_values = models.JSONField(_("specification values"), default=dict)
    #: Canonical text of spec_values ("尺码:M|颜色:红") so a combination exists once.
    spec_key = models.CharField(max_length=255, editable=False)
    price = MoneyField(_("price"))
    original_price = MoneyField(_("original price"), default=0)
    stock = models.IntegerField(_("stock"), default=0, editable=False)
    weight_g = models.PositiveIntegerField(_("weight (g)"), default=0)
    is_active = models.BooleanField(_("available"), default=True)

    class Meta:
        verbose_name = _("SKU")
        verbose_name_plural = _("SKUs")
        ordering = ["product_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(stock__gte=0), name="sku_stock_never_negative"),
            models.CheckConstraint(condition=Q(price__gte=0), name="sku_price_gte_0"),
            models.CheckConstraint(
                condition=Q(original_price__gte=0), name="sku_original_price_gte_0"
            ),
            models.UniqueConstraint(fields=["product", "spec_key"], name="sku_unique_combination"),
        ]

    def __str__(self) -> str:
        specs = " / ".join(str(v) for v in self.spec_values.values())
        return f"{self.code} {specs}".strip()


class StockReason(models.TextChoices):
    INITIAL = "initial", _("Initial stock")
    ADJUSTMENT = "adjustment", _("Manual adjustment")
    IMPORT = "import", _("Import")
    ORDER_RESERVED = "order_reserved", _("Reserved by an order")
    ORDER_RELEASED = "order_released", _("Released by a cancelled order")
    RETURN = "return", _("Returned goods")
    CORRECTION = "correction", _("Stock-take correction")


class StockLedger(models.Model):
    """Every change of a SKU's stock, append-only: the stock column is the sum."""

    sku = models.ForeignKey(Sku, on_delete=models.CASCADE, related_name="ledger")
    delta = models.IntegerField(_("change"))
    balance = models.IntegerField(_("stock after"))
    reason = models.CharField(_("reason"), max_length=32, choices=StockReason.choices)
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock ledger")
        ordering = ["-id"]
        indexes = [models.Index(fields=["sku", "-id"], name="stock_ledger_sku_idx")]

    def __str__(self) -> str:
        return f"{self.sku_id} {self.delta:+d} ({self.get_reason_display()})"


def _register_audit() -> None:
    from auditlog.registry import auditlog

    auditlog.register(Category)
    auditlog.register(Brand)
    auditlog.register(Product, exclude_fields=["sales_count", "min_price", "updated_at"])
    auditlog.register(Sku, exclude_fields=["stock"])  # stock changes are in the ledger
    auditlog.register(ProductImage)  # through catalog.services (add, replace, remove)


_register_audit()
