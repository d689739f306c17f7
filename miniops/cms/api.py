"""Client API: the home page, banners and articles (cached; see selectors)."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from miniops.cms import selectors
from miniops.core.apiauth import member_or_public, public
from miniops.core.schemas import ID

router = Router(tags=["home"])


class LinkOut(Schema):
    kind: str = Field(description="product, category, flash, group_buy, coupon, page or article")
    ref: str = Field(description="the target's id, or the mini-program page's path")


class BannerOut(Schema):
    id: int
    title: str
    image: str | None
    link: LinkOut | None


class FlashSessionHead(Schema):
    id: int
    name: str
    status: str
    starts_at: datetime
    ends_at: datetime


class HomeSectionOut(Schema):
    id: int
    kind: str = Field(
        description="banners, flash_sale, group_buys, recommended, category_grid or articles"
    )
    title: str
    items: list[dict[str, Any]] = Field(
        description="banners, flash items, group buys, product cards, categories or "
        "article cards, by kind (see docs/api.md)"
    )
    session: FlashSessionHead | None = Field(None, description="flash_sale only")


class HomeOut(Schema):
    version: int = Field(description="the CMS version the layout was read at")
    server_time: datetime
    sections: list[HomeSectionOut]


class HomeQuery(Schema):
    anonymous_id: str = Field(
        "",
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="the visitor's anonymous id before sign-in, for recommendations",
    )


class BannersOut(Schema):
    items: list[BannerOut]


class ArticleCard(Schema):
    id: int
    title: str
    summary: str
    cover: str | None
    published_at: datetime | None


class ArticlePageOut(Schema):
    items: list[ArticleCard]
    next_cursor: str | None


class ArticleOut(ArticleCard):
    body: str = Field(description="sanitised HTML")


class ArticleQuery(Schema):
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(20, ge=1, le=50)


def _json(body: bytes) -> HttpResponse:
    return HttpResponse(body, content_type="application/json")


@router.get("/home", response=HomeOut, auth=member_or_public(), summary="The home page")
def home(request: HttpRequest, query: Query[HomeQuery]) -> HttpResponse:
    """The sections that are on now, in the operators' order. A signed-in member
    also gets the sections targeted at an audience they are in; anonymous visitors
    get only the untargeted ones. A change in the console shows within 2 s."""
    member_id = getattr(getattr(request, "auth", None), "member_id", None)
    return _json(selectors.home_bytes(member_id=member_id, anonymous_id=query.anonymous_id))


@router.get("/banners", response=BannersOut, auth=public(), summary="Banners shown now")
def banners(request: HttpRequest) -> HttpResponse:
    return _json(selectors.banners_bytes())


@router.get("/articles", response=ArticlePageOut, auth=public(), summary="Published articles")
def articles(request: HttpRequest, query: Query[ArticleQuery]) -> HttpResponse:
    return _json(selectors.article_page_bytes(cursor=query.cursor, limit=query.limit))


@router.get("/articles/{article_id}", response=ArticleOut, auth=public(), summary="An article")
def article(request: HttpRequest, article_id: int = ID) -> HttpResponse:
    return _json(selectors.article_detail_bytes(article_id))
