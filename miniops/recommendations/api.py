"""Client API: related products and "guess you like" (public, cached like the
catalog reads)."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from miniops.core.apiauth import member_or_public, public
from miniops.core.schemas import ID
from miniops.recommendations import selectors, services

router = Router(tags=["recommendations"])

Reason = Literal[
    "bought_together", "because_you_viewed", "for_you", "trending_in", "trending", "new", "pinned"
]


class RecommendedProduct(Schema):
    id: int
    title: str
    subtitle: str
    cover: str | None
    price: int = Field(description="lowest SKU price, fen")
    sales: int
    category_id: int
    reason: Reason = Field(description="why it is shown (a code)")
    reason_text: str = Field(description="the same, as a sentence in the request's language")
    source: str = Field(
        description="als, item_knn, category_trending, trending, new, pin or history "
        "(for click-through by source)"
    )


class RelatedOut(Schema):
    items: list[RecommendedProduct]
    impression_id: str = Field(
        description="send it back with a recs_click analytics event "
        "(properties impression_id, product_id) when a product of this list is opened"
    )


class RecommendationsOut(Schema):
    items: list[RecommendedProduct]
    arm: Literal["recommendations", "popular"] = Field(
        description="the A/B arm of this visitor (popular: popularity only)"
    )
    impression_id: str = Field(
        description="send it back with a recs_click analytics event "
        "(properties impression_id, product_id) when a product of this list is opened"
    )


class LimitQuery(Schema):
    limit: int = Field(10, ge=1, le=selectors.MAX_LIMIT)


class RecommendationsQuery(Schema):
    limit: int = Field(10, ge=1, le=selectors.MAX_LIMIT)
    anonymous_id: str = Field(
        "",
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]*$",
        description="the analytics anonymous id of a visitor not signed in",
    )


def _json(body: bytes) -> HttpResponse:
    return HttpResponse(body, content_type="application/json")


@router.get(
    "/products/{product_id}/related",
    response=RelatedOut,
    auth=public(),
    summary="Related products",
)
def related(request: HttpRequest, query: Query[LimitQuery], product_id: int = ID) -> HttpResponse:
    """Bought together and viewed together, then trending in the product's category;
    only products on sale and in stock. 404 for an unknown product."""
    body = selectors.related_bytes(product_id, limit=query.limit)
    impression = services.record_impression(
        surface="related",
        body=body,
        member_id=None,
        anonymous_id=None,
        arm="",
        product_id=product_id,
    )
    return _json(selectors.with_impression(body, impression))


@router.get(
    "/recommendations",
    response=RecommendationsOut,
    auth=member_or_public(),
    summary="Recommended for you",
)
def recommendations(request: HttpRequest, query: Query[RecommendationsQuery]) -> HttpResponse:
    """For the signed-in member, or the visitor of ``anonymous_id`` (their recent
    product views), or anyone (trending). Never empty while the shop sells
    anything."""
    member_id = getattr(getattr(request, "auth", None), "member_id", None)
    anonymous_id = None if member_id else (query.anonymous_id or None)
    body = selectors.recommendations_bytes(
        member_id=member_id, anonymous_id=anonymous_id, limit=query.limit
    )
    impression = services.record_impression(
        surface="for_you",
        body=body,
        member_id=member_id,
        anonymous_id=anonymous_id,
        arm=selectors.arm_for(member_id=member_id, anonymous_id=anonymous_id),
    )
    return _json(selectors.with_impression(body, impression))
