"""Products, their specs and SKUs, listing state, schedules and images."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.catalog import html
from miniops.catalog.models import (
    Brand,
    Category,
    Product,
    ProductImage,
    ProductStatus,
    Sku,
)
from miniops.catalog.selectors import sale_warnings_for
from miniops.catalog.services.common import (
    MAX_SKUS_PER_PRODUCT,
    MAX_SPEC_VALUES,
    MAX_SPECS,
    TRANSITIONS,
    _changed,
    _validation,
)
from miniops.core import audit, media
from miniops.core.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from miniops.core.money import MAX_FEN
from miniops.core.permissions import P, require_if_operator


# --- products --------------------------------------------------------------------------------
def clean_specs(specs: Any) -> list[dict[str, Any]]:
    """Validate ``[{"name": "颜色", "values": ["红", "蓝"]}, ...]``."""
    if specs in (None, ""):
        return []
    if not isinstance(specs, list) or len(specs) > MAX_SPECS:
        raise InvalidInput(fields={"specs": _("At most %d specifications.") % MAX_SPECS})
    cleaned, names = [], set()
    for spec in specs:
        if not isinstance(spec, dict):
            raise InvalidInput(fields={"specs": _("Each specification needs a name and values.")})
        name = str(spec.get("name", "")).strip()
        values = [str(v).strip() for v in spec.get("values", []) if str(v).strip()]
        values = list(dict.fromkeys(values))
        if not name or not values or len(name) > 20 or any(len(v) > 40 for v in values):
            raise InvalidInput(fields={"specs": _("Each specification needs a name and values.")})
        if name in names:
            raise InvalidInput(fields={"specs": _("Specification names must differ.")})
        if len(values) > MAX_SPEC_VALUES:
            raise InvalidInput(
                fields={"specs": _("At most %d values per specification.") % MAX_SPEC_VALUES}
            )
        if any(ch in name + "".join(values) for ch in "|:\x00"):
            raise InvalidInput(fields={"specs": _("Specifications cannot contain | or :.")})
        names.add(name)
        cleaned.append({"name": name, "values": values})
    combinations = 1
    for spec in cleaned:
        combinations *= len(spec["values"])
    if combinations > MAX_SKUS_PER_PRODUCT:
        raise InvalidInput(
            fields={"specs": _("Too many combinations (at most %d SKUs).") % MAX_SKUS_PER_PRODUCT}
        )
    return cleaned


def spec_key(values: dict[str, str]) -> str:
    return "|".join(f"{name}:{values[name]}" for name in sorted(values))


def combinations(specs: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Every combination of spec values, in spec order (the SKU matrix)."""
    if not specs:
        return [{}]
    names = [spec["name"] for spec in specs]
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(s["values"] for s in specs))
    ]


def _check_price(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FEN:
        raise InvalidInput(fields={field: _("A whole number of fen between 0 and %d.") % MAX_FEN})
    return value


def refresh_min_price(product: Product) -> None:
    lowest = product.skus.filter(is_active=True).aggregate(m=Min("price"))["m"] or 0
    Product.objects.filter(pk=product.pk).update(min_price=lowest)
    product.min_price = lowest


@transaction.atomic
def save_product(
    *,
    actor: Any,
    product: Product | None = None,
    title: str,
    category: Category,
    subtitle: str = "",
    brand: Brand | None = None,
    description: str = "",
    sort_weight: int = 0,
    publish_at: Any = None,
    unpublish_at: Any = None,
    specs: Any = None,
) -> Product:
    """Create or change a product's content. Status changes go through
    ``change_status``; SKUs through ``sync_skus`` and ``update_sku``."""
    product = product or Product()
    product.title = title.strip()
    product.subtitle = subtitle.strip()
    product.category = category
    product.brand = brand
    product.description = html.sanitise(description)
    product.sort_weight = sort_weight
    product.publish_at = publish_at
    product.unpublish_at = unpublish_at
    if specs is not None:
        product.specs = clean_specs(specs)
    if publish_at and unpublish_at and unpublish_at <= publish_at:
        raise InvalidInput(fields={"unpublish_at": _("Must be after the go-on-sale time.")})
    try:
        product.full_clean(exclude=["status"])
    except ValidationError as exc:
        raise _validation(exc) from exc
    with audit.acting_as(actor):
        product.save()
    _changed(product.pk)
    return product


@transaction.atomic
def sync_skus(
    *,
    product: Product,
    actor: Any,
    default_price: int = 0,
    code_prefix: str | None = None,
) -> list[Sku]:
    """Make the SKUs match the product's spec matrix: create missing combinations
    (price ``default_price``, stock 0), re-activate returning ones, deactivate
    combinations no longer offered. Existing prices and stock are kept."""
    _check_price(default_price, "default_price")
    wanted = {spec_key(values): values for values in combinations(product.specs or [])}
    existing = {sku.spec_key: sku for sku in product.skus.all()}
    prefix = code_prefix or f"P{product.pk}"
    created: list[Sku] = []
    with audit.acting_as(actor):
        for index, (key, values) in enumerate(wanted.items(), start=1):
            sku = existing.get(key)
            if sku is None:
                code = f"{prefix}-{index:03d}"
                while Sku.objects.filter(code=code).exists():
                    index += 1000
                    code = f"{prefix}-{index:03d}"
                sku = Sku.objects.create(
                    product=product,
                    code=code,
                    spec_values=values,
                    spec_key=key,
                    price=default_price,
                )
                created.append(sku)
            elif not sku.is_active:
                sku.is_active = True
                sku.save(update_fields=["is_active"])
        for key, sku in existing.items():
            if key not in wanted and sku.is_active:
                sku.is_active = False
                sku.save(update_fields=["is_active"])
    refresh_min_price(product)
    _changed(product.pk)
    return list(product.skus.order_by("id"))


@transaction.atomic
def update_sku(
    *,
    sku: Sku,
    actor: Any,
    price: int | None = None,
    original_price: int | None = None,
    code: str | None = None,
    weight_g: int | None = None,
    is_active: bool | None = None,
) -> Sku:
    if price is not None:
        sku.price = _check_price(price, "price")
    if original_price is not None:
        sku.original_price = _check_price(original_price, "original_price")
    if code is not None:
        code = code.strip()
        if not code or len(code) > 64:
            raise InvalidInput(fields={"code": _("1 to 64 characters.")})
        if Sku.objects.filter(code=code).exclude(pk=sku.pk).exists():
            raise Conflict(fields={"code": _("Another SKU has this code.")})
        sku.code = code
    if weight_g is not None:
        if isinstance(weight_g, bool) or not 0 <= weight_g <= 1_000_000:
            raise InvalidInput(fields={"weight_g": _("Between 0 and 1,000,000 grams.")})
        sku.weight_g = weight_g
    if is_active is not None:
        sku.is_active = is_active
    with audit.acting_as(actor):
        sku.save()
    refresh_min_price(sku.product)
    _changed(sku.product_id)
    return sku


def _can_go_on_sale(product: Product) -> None:
    skus = product.skus.filter(is_active=True)
    if not skus.exists():
        raise Conflict(_("A product needs at least one SKU to go on sale."))
    if skus.filter(price__lte=0).exists():
        raise Conflict(_("Every SKU on sale needs a price."))


@transaction.atomic
def change_status(*, product: Product, to: str, actor: Any, reason: str = "") -> Product:
    """Move a product through draft -> on sale -> off shelf, conditionally: two
    operators acting at once cannot both win."""
    if to not in ProductStatus.values:
        raise InvalidInput(fields={"status": _("Unknown status.")})
    current = product.status
    if to not in TRANSITIONS.get(current, set()):
        raise IllegalTransition(
            _("A product cannot go from “%(from)s” to “%(to)s”.")
            % {"from": ProductStatus(current).label, "to": ProductStatus(to).label}
        )
    if to == ProductStatus.ON_SALE:
        _can_go_on_sale(product)
    changes: dict[str, Any] = {"status": to}
    if to == ProductStatus.ON_SALE and product.listed_at is None:
        changes["listed_at"] = timezone.now()
    updated = Product.objects.filter(pk=product.pk, status=current).update(**changes)
    if not updated:
        raise IllegalTransition(_("The product changed meanwhile; reload and retry."))
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        instance=product,
        changes={"status": [current, to]},
        additional={"reason": reason} if reason else None,
    )
    for name, value in changes.items():
        setattr(product, name, value)
    _changed(product.pk)
    return product


def bulk_change_status(
    *, products: Iterable[Product], to: str, actor: Any, anyway: bool = False
) -> tuple[int, list[str]]:
    """List or delist many products; each one succeeds or fails on its own.

    Putting on sale asks first, as for one product: a product with no image or
    with SKUs of 0 g (``selectors.sale_warnings_for``) is refused, and named with
    why, unless the operator confirmed ``anyway``. Each change is audited by
    ``change_status``."""
    require_if_operator(actor, P.CATALOG_MANAGE)
    chosen = list(products)
    warned = sale_warnings_for(chosen) if to == ProductStatus.ON_SALE and not anyway else {}
    done, failures = 0, []
    for product in chosen:
        if product.pk in warned and product.status != ProductStatus.ON_SALE:
            failures.append(
                _("%(product)s: not put on sale without asking: %(why)s")
                % {"product": product, "why": " ".join(warned[product.pk])}
            )
            continue
        try:
            change_status(product=product, to=to, actor=actor)
            done += 1
        except (Conflict, InvalidInput) as exc:
            failures.append(f"{product}: {exc.message}")
    return done, failures


@transaction.atomic
def apply_schedules(*, now: Any = None) -> dict[str, int]:
    """Put scheduled products on sale and take expired ones off (periodic task)."""
    now = now or timezone.now()
    listed = delisted = 0
    due_on = Product.objects.filter(
        status__in=[ProductStatus.DRAFT, ProductStatus.OFF_SHELF], publish_at__lte=now
    ).exclude(unpublish_at__lte=now)
    for product in due_on:
        try:
            change_status(product=product, to=ProductStatus.ON_SALE, actor=None, reason="scheduled")
        except Conflict:
            continue
        # A schedule fires once: a later manual delist must stick.
        Product.objects.filter(pk=product.pk).update(publish_at=None)
        listed += 1
    for product in Product.objects.filter(status=ProductStatus.ON_SALE, unpublish_at__lte=now):
        change_status(product=product, to=ProductStatus.OFF_SHELF, actor=None, reason="scheduled")
        Product.objects.filter(pk=product.pk).update(unpublish_at=None, publish_at=None)
        delisted += 1
    return {"listed": listed, "delisted": delisted}


# --- images ---------------------------------------------------------------------------------
# Each image change is one audit row naming the operator: adding, replacing and
# removing through django-auditlog (ProductImage is registered), a new order as one
# row on the product, and the cover it leads to as another. Files are never
# deleted: orders placed earlier show the cover of their day as the item's picture.
MAX_IMAGES = 12
MAX_SORT = 1_000_000


def _check_sort(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -MAX_SORT <= value <= MAX_SORT:
        raise InvalidInput(fields={"sort": _("A whole number between -1,000,000 and 1,000,000.")})
    return value


def _locked_image(image: ProductImage) -> ProductImage:
    found = ProductImage.objects.select_for_update().filter(pk=image.pk).first()
    if found is None:
        raise NotFound(_("This image no longer exists."))
    return found


@transaction.atomic
def add_image(
    *, product: Product, upload: Any, actor: Any, sort: int | None = None
) -> ProductImage:
    require_if_operator(actor, P.CATALOG_MANAGE)
    Product.objects.select_for_update().filter(pk=product.pk).first()
    if product.images.count() >= MAX_IMAGES:
        raise Conflict(fields={"image": _("At most %d images per product.") % MAX_IMAGES})
    if sort is not None:
        _check_sort(sort)
    name = media.save_image(upload, folder="catalog/products")
    if sort is None:
        sort = product.images.count()
    with audit.acting_as(actor):
        image = ProductImage.objects.create(product=product, image=name, sort=sort)
    refresh_cover(product, actor=actor)
    return image


@transaction.atomic
def replace_image(*, image: ProductImage, upload: Any, actor: Any) -> ProductImage:
    """A new file in the same place of the gallery."""
    require_if_operator(actor, P.CATALOG_MANAGE)
    image = _locked_image(image)
    image.image = media.save_image(upload, folder="catalog/products")
    with audit.acting_as(actor):
        image.save(update_fields=["image"])
    refresh_cover(image.product, actor=actor)
    return image


@transaction.atomic
def remove_image(*, image: ProductImage, actor: Any) -> None:
    require_if_operator(actor, P.CATALOG_MANAGE)
    image = _locked_image(image)
    product = image.product
    with audit.acting_as(actor):
        image.delete()
    refresh_cover(product, actor=actor)


@transaction.atomic
def reorder_images(*, product: Product, sorts: Mapping[int, int], actor: Any) -> list[ProductImage]:
    """Give the product's images new positions (``{image id: sort}``; images not
    named keep theirs). One audit row on the product holds the order before and
    after; the first image is the cover."""
    require_if_operator(actor, P.CATALOG_MANAGE)
    images = {
        image.pk: image for image in product.images.select_for_update().order_by("sort", "id")
    }
    unknown = [pk for pk in sorts if pk not in images]
    if unknown:
        raise InvalidInput(fields={"sort": _("These images are not this product's: %s") % unknown})
    before = [image.image.name for image in images.values()]
    for pk, sort in sorts.items():
        if images[pk].sort != _check_sort(sort):
            ProductImage.objects.filter(pk=pk).update(sort=sort)
            images[pk].sort = sort
    ordered = sorted(images.values(), key=lambda image: (image.sort, image.pk))
    after = [image.image.name for image in ordered]
    if after != before:
        audit.record(
            actor=actor,
            action=audit.Action.UPDATE,
            instance=product,
            changes={"images": [before, after]},
        )
    refresh_cover(product, actor=actor)
    return ordered


def refresh_cover(product: Product, *, actor: Any = None) -> None:
    """The cover is the first image (by sort, then age); its change is audited."""
    first = product.images.order_by("sort", "id").first()
    cover = (first.image.name or "") if first else ""
    current = Product.objects.filter(pk=product.pk).values_list("cover", flat=True).first()
    if current is not None and cover != current:
        Product.objects.filter(pk=product.pk).update(cover=cover)
        audit.record(
            actor=actor,
            action=audit.Action.UPDATE,
            instance=product,
            changes={"cover": [current, cover]},
        )
    product.cover = cover
    _changed(product.pk)
