"""Demo home page: banners (one scheduled for tomorrow), articles (one draft) and a
layout with every kind of section, one of them for the 高价值 tag only."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from miniops.cms import services
from miniops.cms.models import Article, Banner, HomeSection, LinkKind, SectionKind
from miniops.core import media

STEPS = 2
VIP_TAG = "高价值"

ARTICLES = [
    (
        "冬季护肤指南",
        "干燥季节，三步留住水润",
        "<h2>第一步：温和清洁</h2><p>选择<strong>氨基酸</strong>洁面，早晚各一次。</p>"
        "<h2>第二步：补水</h2><ul><li>化妆水轻拍</li><li>精华按压吸收</li></ul>"
        "<h2>第三步：锁水</h2><p>面霜取黄豆大小，由内向外涂抹。</p>",
    ),
    (
        "双十二购物清单",
        "编辑精选，错过再等一年",
        "<p>本周精选 <em>20</em> 款好物，满 199 减 30。</p>"
        "<table><thead><tr><th>品类</th><th>推荐</th></tr></thead>"
        "<tbody><tr><td>数码</td><td>蓝牙耳机</td></tr><tr><td>家居</td><td>空气炸锅</td></tr>"
        "</tbody></table>",
    ),
    (
        "会员日玩法说明",
        "积分翻倍、专享券与拼团",
        "<p>每月 18 日为会员日：积分<strong>双倍</strong>，"
        "高价值会员另有专享券。</p><blockquote>活动最终解释权归本店所有。</blockquote>",
    ),
]
DRAFT = ("春节不打烊（草稿）", "", "<p>春节期间发货安排，待确认。</p>")


def clear() -> None:
    for model in (HomeSection, Banner, Article):
        model.objects.all().delete()


def _picture(rng: random.Random, colour: tuple[int, int, int]) -> bytes:
    width, height = 750, 320
    image = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        shade = tuple(max(0, min(255, c + rng.randint(-70, 70))) for c in colour)
        x0, y0 = rng.randint(0, width - 160), rng.randint(0, height - 120)
        draw.rounded_rectangle(
            (x0, y0, x0 + rng.randint(80, 300), y0 + rng.randint(60, 200)), radius=24, fill=shade
        )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def _first_id(model: Any, **filters: Any) -> str:
    pk = model.objects.filter(**filters).order_by("pk").values_list("pk", flat=True).first()
    return str(pk) if pk else ""


@transaction.atomic
def seed(*, progress: Callable[[int], object]) -> None:
    from miniops.catalog.models import Category, Product, ProductStatus
    from miniops.marketing.models import FlashSession

    if HomeSection.objects.exists():
        progress(STEPS)
        return
    rng = random.Random(12)
    now = timezone.now()
    articles = []
    for i, (title, summary, body) in enumerate(ARTICLES):
        articles.append(
            Article.objects.create(
                title=title,
                summary=summary,
                body=services.clean_body(body),
                status=Article.Status.PUBLISHED,
                cover=media.save_image(
                    _picture(rng, (230, 120 + 30 * i, 90)), folder="cms/articles"
                ),
                published_at=now - timedelta(days=3 - i),
            )
        )
    Article.objects.create(title=DRAFT[0], summary=DRAFT[1], body=services.clean_body(DRAFT[2]))
    best = (
        Product.objects.filter(status=ProductStatus.ON_SALE)
        .order_by("-sales_count", "pk")
        .values_list("pk", flat=True)
        .first()
    )
    banners: list[tuple[str, str, str, Any]] = [
        ("爆款直降", LinkKind.PRODUCT if best else "", str(best) if best else "", None),
        ("整点秒杀", LinkKind.FLASH, _first_id(FlashSession), None),
        ("领券中心", LinkKind.PAGE, "/pages/coupons/index", None),
        ("冬季护肤指南", LinkKind.ARTICLE, str(articles[0].pk), None),
        (
            "家居焕新",
            LinkKind.CATEGORY,
            _first_id(Category, name="家居家装") or _first_id(Category),
            None,
        ),
        ("明日上新（已排期）", LinkKind.PAGE, "/pages/index/index", now + timedelta(days=1)),
    ]
    colours = [(250, 81, 81), (255, 150, 40), (7, 193, 96), (16, 174, 255), (112, 84, 255)]
    for i, (title, kind, ref, starts_at) in enumerate(banners):
        if kind and not ref:  # nothing to link to in this shop
            kind = ""
        Banner.objects.create(
            title=title,
            image=media.save_image(_picture(rng, colours[i % len(colours)]), folder="cms/banners"),
            link_kind=kind,
            link_ref=ref if kind else "",
            sort=i,
            starts_at=starts_at,
        )
    progress(1)
    from miniops.members.models import MemberTag

    vip = MemberTag.objects.filter(name=VIP_TAG).exists()
    layout: list[tuple[str, str, int, str]] = [
        (SectionKind.BANNERS, "", 5, ""),
        (SectionKind.CATEGORY_GRID, "分类", 8, ""),
        (SectionKind.FLASH_SALE, "限时秒杀", 6, ""),
        (SectionKind.GROUP_BUYS, "拼团", 4, ""),
        (SectionKind.ARTICLES, "会员专享", 2, f"tag:{VIP_TAG}" if vip else ""),
        (SectionKind.RECOMMENDED, "猜你喜欢", 10, ""),
        (SectionKind.ARTICLES, "精选文章", 3, ""),
    ]
    for position, (kind, title, limit, audience) in enumerate(layout, start=1):
        HomeSection.objects.create(
            kind=kind, title=title, limit=limit, audience=audience, position=position
        )
    services.cms_changed()
    progress(1)
