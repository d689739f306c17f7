"""Categories and brands."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from miniops.catalog.models import (
    MAX_CATEGORY_DEPTH,
    Brand,
    Category,
)
from miniops.catalog.services.common import _changed, _validation
from miniops.core import audit, media
from miniops.core.errors import Conflict, InvalidInput


# --- categories and brands ----------------------------------------------------------------
def _depth_below(category: Category) -> int:
    """How many levels hang below ``category`` (0 for a leaf)."""
    depth, frontier = 0, [category.pk]
    while frontier:
        frontier = list(
            Category.objects.filter(parent_id__in=frontier).values_list("id", flat=True)
        )
        if frontier:
            depth += 1
    return depth


@transaction.atomic
def save_category(
    *,
    actor: Any,
    category: Category | None = None,
    name: str,
    parent: Category | None = None,
    sort: int = 0,
    is_active: bool = True,
    icon: Any = None,
) -> Category:
    """Create or change a category; the tree stays at most three levels deep and
    never loops."""
    category = category or Category()
    level = (parent.level + 1) if parent else 1
    if parent is not None and category.pk:
        ancestor: Category | None = parent
        while ancestor is not None:
            if ancestor.pk == category.pk:
                raise InvalidInput(fields={"parent": _("A category cannot sit below itself.")})
            ancestor = ancestor.parent
    below = _depth_below(category) if category.pk else 0
    if level + below > MAX_CATEGORY_DEPTH:
        raise InvalidInput(fields={"parent": _("Categories go at most three levels deep.")})
    category.name, category.parent, category.sort, category.is_active = (
        name.strip(),
        parent,
        sort,
        is_active,
    )
    category.level = level
    if icon is not None:
        category.icon = media.save_image(icon, folder="catalog/categories") if icon else ""
    try:
        category.full_clean()
    except ValidationError as exc:
        raise _validation(exc) from exc
    with audit.acting_as(actor):
        category.save()
        # Children follow their parent's level.
        frontier, next_level = [category.pk], level + 1
        while frontier:
            Category.objects.filter(parent_id__in=frontier).update(level=next_level)
            frontier = list(
                Category.objects.filter(parent_id__in=frontier).values_list("id", flat=True)
            )
            next_level += 1
    _changed()
    return category


@transaction.atomic
def delete_category(*, category: Category, actor: Any) -> None:
    if category.children.exists() or category.products.exists():
        raise Conflict(_("Move or delete its sub-categories and products first."))
    with audit.acting_as(actor):
        category.delete()
    _changed()


@transaction.atomic
def save_brand(*, actor: Any, brand: Brand | None = None, **fields: Any) -> Brand:
    brand = brand or Brand()
    logo = fields.pop("logo", None)
    for name, value in fields.items():
        setattr(brand, name, value)
    if logo is not None:
        brand.logo = media.save_image(logo, folder="catalog/brands") if logo else ""
    try:
        brand.full_clean()
    except ValidationError as exc:
        raise _validation(exc) from exc
    with audit.acting_as(actor):
        brand.save()
    _changed()
    return brand
