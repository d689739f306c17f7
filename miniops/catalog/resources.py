"""CSV / XLSX import and export of the catalog, one row per SKU.

Columns: ``code, title, subtitle, category (path like 服装/男装/T恤), brand,
specs (颜色:红|尺码:M), price, original_price (yuan), stock, weight_g, status``.
Each row is validated first (row-level errors in the preview); saving goes
through the catalog services, so stock changes land in the ledger and the audit
log names the operator. The preview is a dry run in a rolled-back transaction.
Exports are written by ``miniops.core.exports`` (formula-like text escaped with an
apostrophe), and an import takes that apostrophe off again.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import fields, resources

from miniops.catalog import services
from miniops.catalog.models import Brand, Category, Product, ProductStatus, Sku, StockReason
from miniops.core.exports import unescape_cell
from miniops.core.money import MoneyError, fen_to_yuan, yuan_to_fen


def _text(row: Any, column: str) -> str:
    """A text cell of an imported row, trimmed, without the apostrophe our exports
    put before a formula-like text (so an export imported again changes nothing;
    the text is escaped again by the next export)."""
    return unescape_cell(str(row.get(column) or "").strip())


def category_path(category: Category) -> str:
    names: list[str] = []
    node: Category | None = category
    while node is not None:
        names.append(node.name)
        node = node.parent
    return "/".join(reversed(names))


def find_category(path: str) -> Category | None:
    parent = None
    node = None
    for name in [p.strip() for p in path.split("/") if p.strip()]:
        node = Category.objects.filter(parent=parent, name=name).first()
        if node is None:
            return None
        parent = node
    return node


def parse_specs(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for part in [p for p in (text or "").split("|") if p.strip()]:
        name, sep, value = part.partition(":")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(part)
        values[name.strip()] = value.strip()
    return values


class SkuRowResource(resources.ModelResource):
    code = fields.Field(attribute="code", column_name="code")
    title = fields.Field(column_name="title")
    subtitle = fields.Field(column_name="subtitle")
    category = fields.Field(column_name="category")
    brand = fields.Field(column_name="brand")
    specs = fields.Field(column_name="specs")
    price = fields.Field(column_name="price")
    original_price = fields.Field(column_name="original_price")
    stock = fields.Field(column_name="stock")
    weight_g = fields.Field(column_name="weight_g")
    status = fields.Field(column_name="status")

    class Meta:
        model = Sku
        import_id_fields = ["code"]
        fields = [
            "code",
            "title",
            "subtitle",
            "category",
            "brand",
            "specs",
            "price",
            "original_price",
            "stock",
            "weight_g",
            "status",
        ]
        export_order = fields
        skip_unchanged = False
        use_transactions = True

    def __init__(self, *args: Any, actor: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor

    # --- export -------------------------------------------------------------------------
    def get_export_queryset(self, request: Any = None) -> Any:
        return Sku.objects.select_related(
            "product", "product__category", "product__brand"
        ).order_by("product_id", "id")

    def dehydrate_title(self, sku: Sku) -> str:
        return sku.product.title

    def dehydrate_subtitle(self, sku: Sku) -> str:
        return sku.product.subtitle

    def dehydrate_category(self, sku: Sku) -> str:
        return category_path(sku.product.category)

    def dehydrate_brand(self, sku: Sku) -> str:
        return sku.product.brand.name if sku.product.brand else ""

    def dehydrate_specs(self, sku: Sku) -> str:
        return "|".join(f"{k}:{v}" for k, v in sku.spec_values.items())

    def dehydrate_price(self, sku: Sku) -> str:
        return fen_to_yuan(sku.price)

    def dehydrate_original_price(self, sku: Sku) -> str:
        return fen_to_yuan(sku.original_price)

    def dehydrate_stock(self, sku: Sku) -> int:
        return sku.stock

    def dehydrate_weight_g(self, sku: Sku) -> int:
        return sku.weight_g

    def dehydrate_status(self, sku: Sku) -> str:
        return sku.product.status

    # --- import ---------------------------------------------------------------------------
    def import_instance(self, instance: Sku, row: Any, **kwargs: Any) -> None:
        """Validate the row into ``instance._row`` (errors name their column)."""
        errors: dict[str, str] = {}
        data: dict[str, Any] = {}
        code = _text(row, "code")
        if not code or len(code) > 64:
            errors["code"] = _("1 to 64 characters.")
        data["code"] = code
        title = _text(row, "title")
        if not title and instance.pk is None:
            errors["title"] = _("Required for a new SKU.")
        if len(title) > 120:
            errors["title"] = _("At most 120 characters.")
        data["title"] = title
        data["subtitle"] = _text(row, "subtitle")[:200]
        category_text = _text(row, "category")
        category = find_category(category_text) if category_text else None
        if category_text and category is None:
            errors["category"] = _("No such category: %s") % category_text
        if category is None and instance.pk is None and "category" not in errors:
            errors["category"] = _("Required for a new SKU.")
        data["category"] = category
        data["brand"] = _text(row, "brand")[:64]
        try:
            data["specs"] = parse_specs(_text(row, "specs"))
        except ValueError:
            errors["specs"] = _("Write specs as name:value|name:value.")
        for column in ("price", "original_price"):
            raw = str(row.get(column) or "").strip()
            if not raw:
                if column == "price" and instance.pk is None:
                    errors[column] = _("Required for a new SKU.")
                data[column] = None
                continue
            try:
                data[column] = int(yuan_to_fen(raw))
            except MoneyError:
                errors[column] = _("Enter an amount in yuan with at most two decimals.")
        for column, limit in (("stock", services.MAX_STOCK), ("weight_g", 1_000_000)):
            raw = str(row.get(column) or "").strip()
            if not raw:
                data[column] = None
                continue
            if not re.fullmatch(r"[0-9]{1,9}", raw) or int(raw) > limit:
                errors[column] = _("A whole number between 0 and %d.") % limit
            else:
                data[column] = int(raw)
        status = _text(row, "status")
        if status and status not in ProductStatus.values:
            errors["status"] = _("One of: %s") % ", ".join(ProductStatus.values)
        data["status"] = status
        if errors:
            raise ValidationError(errors)
        instance._row = data  # type: ignore[attr-defined]
        instance.code = code

    def validate_instance(
        self, instance: Any, import_validation_errors: Any = None, validate_unique: bool = True
    ) -> None:
        if import_validation_errors:
            raise ValidationError(import_validation_errors)

    def save_instance(self, instance: Sku, is_create: bool, row: Any, **kwargs: Any) -> None:
        data = instance._row  # type: ignore[attr-defined]
        actor = self.actor
        if is_create:
            brand = None
            if data["brand"]:
                brand = Brand.objects.filter(name=data["brand"]).first() or services.save_brand(
                    actor=actor, name=data["brand"]
                )
            product = Product.objects.filter(title=data["title"], category=data["category"]).first()
            if product is None:
                product = services.save_product(
                    actor=actor,
                    title=data["title"],
                    subtitle=data["subtitle"],
                    category=data["category"],
                    brand=brand,
                )
            sku = services.create_sku(
                product=product,
                code=data["code"],
                spec_values=data["specs"],
                price=data["price"],
                original_price=data["original_price"] or 0,
                actor=actor,
            )
            _merge_specs(product, data["specs"], actor)
        else:
            sku = Sku.objects.select_related("product").get(pk=instance.pk)
            services.update_sku(
                sku=sku,
                actor=actor,
                price=data["price"],
                original_price=data["original_price"],
                weight_g=data["weight_g"],
            )
            product = sku.product
        if data["stock"] is not None:
            services.set_stock(
                sku=sku, quantity=data["stock"], reason=StockReason.IMPORT, actor=actor
            )
        if data["status"] and data["status"] != product.status:
            services.change_status(product=product, to=data["status"], actor=actor, reason="import")
        instance.pk = sku.pk


def _merge_specs(product: Product, values: dict[str, str], actor: Any) -> None:
    specs = {spec["name"]: list(spec["values"]) for spec in product.specs or []}
    for name, value in values.items():
        specs.setdefault(name, [])
        if value not in specs[name]:
            specs[name].append(value)
    merged = [{"name": name, "values": vals} for name, vals in specs.items()]
    if merged != (product.specs or []):
        product.specs = merged
        product.save(update_fields=["specs"])
