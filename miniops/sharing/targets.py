"""What can be shared: each target type says how to find its object and what its
share card shows (title, image, mini-program page, price).

Products, flash sales, group buys, coupon campaigns and the CMS's articles
(looked up by model name: the CMS sits above sharing) are built in; pages are
named by their path. Another app can add or replace a type with
``register(kind, describe)`` in its ``ready()``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext as _

from miniops.core.errors import InvalidInput, NotFound
from miniops.sharing.models import TargetType

#: a mini-program page path: pages/<segments>, letters, digits, _ and -
PAGE_PATH = re.compile(r"pages(/[A-Za-z0-9_-]{1,40}){1,4}")


#: the mini-program page each type opens
PAGES: dict[str, str] = {
    TargetType.PRODUCT: "pages/product/detail",
    TargetType.FLASH_SALE: "pages/flash/index",
    TargetType.GROUP_BUY: "pages/group/detail",
    TargetType.CAMPAIGN: "pages/coupon/detail",
    TargetType.ARTICLE: "pages/article/detail",
}


@dataclass(frozen=True)
class Card:
    """What a share card and a poster show for a target."""

    title: str
    page: str  # the mini-program page, without the query
    query: str  # the page's own query (id=12), the code is added to it
    image: str = ""  # a storage name (catalog covers) or an absolute URL
    price_fen: int | None = None


Describe = Callable[[int], Card]  # raises NotFound
_describers: dict[str, Describe] = {}


def register(kind: str, describe: Describe) -> None:
    if kind not in TargetType.values:
        raise ValueError(f"unknown share target type {kind!r}")
    _describers[kind] = describe


def is_known(kind: str) -> bool:
    return kind == TargetType.PAGE or kind in _describers


def describe(kind: str, target_id: int, page: str = "") -> Card:
    """The card for a target; InvalidInput for an unknown type or a bad page path,
    NotFound for an object that does not exist (any more)."""
    if kind == TargetType.PAGE:
        if target_id:
            raise InvalidInput(fields={"target_id": _("A page has no id.")})
        if not PAGE_PATH.fullmatch(page or ""):
            raise InvalidInput(fields={"page": _("A mini-program page such as pages/index/index.")})
        return Card(title="", page=page, query="")
    if page:
        raise InvalidInput(fields={"page": _("Only a page target takes a page.")})
    describer = _describers.get(kind)
    if describer is None:
        raise InvalidInput(
            _("This target cannot be shared."),
            code="unknown_target",
            fields={"target_type": _("Not a type that can be shared here.")},
        )
    if not isinstance(target_id, int) or target_id <= 0:
        raise InvalidInput(fields={"target_id": _("The id of what is shared.")})
    return describer(target_id)


# --- the built-in types ----------------------------------------------------------------------
def _product(target_id: int) -> Card:
    from miniops.catalog.models import Product

    product = Product.objects.filter(pk=target_id).first()
    if product is None:
        raise NotFound(_("No such product."), code="target_not_found")
    return Card(
        title=product.title,
        page=PAGES[TargetType.PRODUCT],
        query=f"id={product.pk}",
        image=product.cover,
        price_fen=product.min_price,
    )


def _flash_sale(target_id: int) -> Card:
    from miniops.marketing.models import FlashSession

    session = FlashSession.objects.filter(pk=target_id).first()
    if session is None:
        raise NotFound(_("No such flash sale."), code="target_not_found")
    first = session.items.select_related("sku__product").order_by("pk").first()
    product = first.sku.product if first is not None else None
    return Card(
        title=session.name,
        page=PAGES[TargetType.FLASH_SALE],
        query=f"id={session.pk}",
        image=product.cover if product is not None else "",
        price_fen=first.flash_price if first is not None else None,
    )


def _group_buy(target_id: int) -> Card:
    from miniops.marketing.models import GroupBuy

    group_buy = GroupBuy.objects.select_related("sku__product").filter(pk=target_id).first()
    if group_buy is None:
        raise NotFound(_("No such group buy."), code="target_not_found")
    return Card(
        title=group_buy.name,
        page=PAGES[TargetType.GROUP_BUY],
        query=f"id={group_buy.pk}",
        image=group_buy.sku.product.cover,
        price_fen=group_buy.group_price,
    )


def _campaign(target_id: int) -> Card:
    from miniops.marketing.models import CouponTemplate

    template = CouponTemplate.objects.filter(pk=target_id).first()
    if template is None:
        raise NotFound(_("No such campaign."), code="target_not_found")
    return Card(title=template.name, page=PAGES[TargetType.CAMPAIGN], query=f"id={template.pk}")


def _article(target_id: int) -> Card:
    # the CMS sits above sharing in the layers: looked up by name, not imported
    from django.apps import apps

    if not apps.is_installed("miniops.cms"):
        raise InvalidInput(_("This target cannot be shared."), code="unknown_target")
    article = apps.get_model("cms", "Article")._default_manager.filter(pk=target_id).first()
    if article is None:
        raise NotFound(_("No such article."), code="target_not_found")
    return Card(
        title=article.title,
        page=PAGES[TargetType.ARTICLE],
        query=f"id={article.pk}",
        image=str(article.cover.name or "") if article.cover else "",
    )


register(TargetType.PRODUCT, _product)
register(TargetType.ARTICLE, _article)
register(TargetType.FLASH_SALE, _flash_sale)
register(TargetType.GROUP_BUY, _group_buy)
register(TargetType.CAMPAIGN, _campaign)
