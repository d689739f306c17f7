"""Demo shop: a three-level category tree, ~500 products, ~2,000 SKUs with
believable names, prices, stock and locally generated images."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from datetime import timedelta
from itertools import product as cartesian

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from miniops.catalog import services as catalog_services
from miniops.catalog.models import (
    Brand,
    Category,
    Product,
    ProductImage,
    ProductStatus,
    Sku,
    StockLedger,
    StockReason,
)

STEPS = 10
PRODUCTS = 520

#: top -> {second: [leaves]}, with the kind of specs and price range of the leaves
TREE: dict[str, dict[str, list[str]]] = {
    "服装": {
        "女装": ["连衣裙", "T恤", "针织衫", "牛仔裤"],
        "男装": ["衬衫", "卫衣", "夹克"],
        "内衣家居": ["睡衣", "袜子"],
    },
    "鞋靴箱包": {
        "女鞋": ["单鞋", "运动鞋"],
        "男鞋": ["休闲鞋", "皮鞋"],
        "箱包": ["双肩包", "行李箱"],
    },
    "美妆个护": {
        "护肤": ["面霜", "精华", "面膜"],
        "彩妆": ["口红", "粉底液"],
        "个人护理": ["洗发水", "沐浴露"],
    },
    "食品生鲜": {
        "休闲零食": ["坚果", "饼干", "巧克力"],
        "茶饮冲调": ["绿茶", "咖啡"],
        "生鲜": ["水果", "牛排"],
    },
    "数码家电": {
        "手机配件": ["充电器", "数据线", "手机壳"],
        "智能设备": ["智能手表", "蓝牙耳机"],
        "小家电": ["电饭煲", "空气炸锅"],
    },
    "家居家装": {
        "床上用品": ["四件套", "枕头"],
        "收纳整理": ["收纳箱", "衣架"],
        "厨具": ["炒锅", "保温杯"],
    },
    "母婴玩具": {
        "奶粉辅食": ["奶粉", "米粉"],
        "童装": ["婴儿连体衣", "儿童外套"],
        "玩具": ["积木", "毛绒玩具"],
    },
    "运动户外": {
        "运动服饰": ["速干T恤", "运动裤"],
        "户外装备": ["帐篷", "登山杖"],
        "健身器材": ["瑜伽垫", "哑铃"],
    },
}

SPECS: dict[str, list[dict[str, list[str]]]] = {
    "服装": [
        {"颜色": ["黑色", "白色", "雾霾蓝", "燕麦色", "酒红"]},
        {"尺码": ["S", "M", "L", "XL"]},
    ],
    "鞋靴箱包": [
        {"颜色": ["黑色", "米白", "卡其"]},
        {"尺码": ["36", "37", "38", "39", "40", "41", "42"]},
    ],
    "美妆个护": [{"规格": ["30ml", "50ml", "100ml", "旅行装"]}],
    "食品生鲜": [{"规格": ["250g", "500g", "1kg", "礼盒装"]}],
    "数码家电": [{"颜色": ["曜石黑", "珍珠白", "远峰蓝"]}, {"版本": ["标准版", "Pro"]}],
    "家居家装": [{"颜色": ["奶白", "浅灰", "豆沙粉"]}, {"规格": ["小号", "中号", "大号"]}],
    "母婴玩具": [{"规格": ["0-6个月", "6-12个月", "1-3岁", "3岁以上"]}],
    "运动户外": [{"颜色": ["黑色", "军绿", "橙色"]}, {"尺码": ["M", "L", "XL"]}],
}
PRICE: dict[str, tuple[int, int]] = {
    "服装": (59, 599),
    "鞋靴箱包": (99, 1299),
    "美妆个护": (39, 899),
    "食品生鲜": (9, 299),
    "数码家电": (19, 2999),
    "家居家装": (19, 699),
    "母婴玩具": (29, 499),
    "运动户外": (39, 1599),
}
BRANDS = [
    "小鹿家",
    "山野集",
    "初禾",
    "木子良品",
    "云朵工坊",
    "极光",
    "青简",
    "拾光",
    "南山下",
    "北纬30°",
    "好物研究所",
    "溪山",
    "布谷",
    "栗子森林",
    "Aurora",
    "Nordic Line",
    "Mellow",
    "Kinfolk Lab",
]
ADJECTIVES = [
    "经典",
    "轻薄",
    "加厚",
    "简约",
    "复古",
    "新款",
    "爆款",
    "网红同款",
    "高弹",
    "透气",
    "有机",
    "进口",
    "手作",
    "升级款",
    "大容量",
    "便携",
    "静音",
    "护眼",
    "保湿",
    "控油",
    "温和",
]
PALETTE = [
    (7, 193, 96),
    (250, 81, 81),
    (255, 195, 0),
    (16, 174, 255),
    (112, 84, 255),
    (255, 128, 64),
    (0, 150, 136),
    (233, 30, 99),
    (96, 125, 139),
    (139, 195, 74),
]


def _image(rng: random.Random, seed_colour: tuple[int, int, int]) -> bytes:
    size = 480
    image = Image.new("RGB", (size, size), tuple(min(255, c + 150) for c in seed_colour))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(3, 7)):
        colour = tuple(max(0, min(255, c + rng.randint(-60, 60))) for c in seed_colour)
        x0, y0 = rng.randint(0, size - 120), rng.randint(0, size - 120)
        x1, y1 = x0 + rng.randint(60, 240), y0 + rng.randint(60, 240)
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rounded_rectangle((x0, y0, x1, y1), radius=rng.randint(6, 30), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=78)
    return buffer.getvalue()


def _categories() -> tuple[list[tuple[Category, str]], int]:
    leaves: list[tuple[Category, str]] = []
    count = 0
    for top_sort, (top_name, seconds) in enumerate(TREE.items()):
        top = Category.objects.create(name=top_name, level=1, sort=top_sort)
        count += 1
        for second_sort, (second_name, names) in enumerate(seconds.items()):
            second = Category.objects.create(
                name=second_name, parent=top, level=2, sort=second_sort
            )
            count += 1
            for leaf_sort, name in enumerate(names):
                leaf = Category.objects.create(name=name, parent=second, level=3, sort=leaf_sort)
                leaves.append((leaf, top_name))
                count += 1
    return leaves, count


def clear() -> None:
    """Remove the whole catalog (demo installations only)."""
    StockLedger.objects.all().delete()
    Product.objects.all().delete()
    for level in (3, 2, 1):
        Category.objects.filter(level=level).delete()
    Brand.objects.all().delete()


@transaction.atomic
def seed(*, progress: Callable[[int], object]) -> None:
    if Product.objects.count() >= 500:
        progress(STEPS)
        return
    rng = random.Random(2026)
    leaves, _ = _categories()
    brands = [Brand.objects.create(name=name, sort=i) for i, name in enumerate(BRANDS)]
    progress(1)
    now = timezone.now()
    per_step = PRODUCTS // (STEPS - 2)
    products: list[Product] = []
    for index in range(PRODUCTS):
        leaf, top = leaves[index % len(leaves)]
        brand = rng.choice(brands)
        title = f"{brand.name} {rng.choice(ADJECTIVES)}{leaf.name}"
        if rng.random() < 0.4:
            title += f" {rng.choice(['2026新款', '官方正品', '限定款', '家庭装', '基础款'])}"
        listed = now - timedelta(days=rng.uniform(0, 180), minutes=rng.randint(0, 1440))
        roll = rng.random()
        status = (
            ProductStatus.ON_SALE
            if roll < 0.9
            else ProductStatus.DRAFT
            if roll < 0.95
            else ProductStatus.OFF_SHELF
        )
        spec_choices = []
        for spec in SPECS[top]:
            ((name, values),) = spec.items()
            spec_choices.append(
                {"name": name, "values": rng.sample(values, k=min(len(values), rng.randint(2, 4)))}
            )
        name = f"catalog/products/demo-{index + 1:04d}.jpg"
        if not default_storage.exists(name):
            name = default_storage.save(name, ContentFile(_image(rng, rng.choice(PALETTE))))
        products.append(
            Product(
                title=title[:120],
                subtitle=rng.choice(
                    ["顺丰包邮 7天无理由", "会员专享价", "新人立减", "满199减20", "品质之选", ""]
                ),
                category=leaf,
                brand=brand,
                description=f"<p>{title}，{rng.choice(['精选原料', '匠心工艺', '人气热卖', '多色可选'])}。</p>",
                status=status,
                sort_weight=rng.choice([0, 0, 0, 10, 50, 100]),
                specs=spec_choices,
                sales_count=int(rng.paretovariate(1.2) * 20)
                if status == ProductStatus.ON_SALE
                else 0,
                cover=name,
                listed_at=listed if status != ProductStatus.DRAFT else None,
            )
        )
        if (index + 1) % per_step == 0:
            progress(1)
    Product.objects.bulk_create(products, batch_size=500)
    products = list(Product.objects.order_by("id"))
    ProductImage.objects.bulk_create(
        [ProductImage(product=p, image=p.cover, sort=0) for p in products], batch_size=500
    )
    skus: list[Sku] = []
    for product in products:
        top = (
            product.category.parent.parent.name
            if product.category.parent and product.category.parent.parent
            else "服装"
        )
        low, high = PRICE.get(top, (19, 299))
        base = rng.randint(low, high) * 100 - rng.choice([0, 1, 10, 100])
        names = [spec["name"] for spec in product.specs]
        combos = list(cartesian(*(spec["values"] for spec in product.specs)))
        rng.shuffle(combos)
        for number, combo in enumerate(
            sorted(combos[: max(2, min(len(combos), rng.randint(3, 7)))]), start=1
        ):
            chosen = dict(zip(names, combo, strict=True))
            price = max(100, base + rng.choice([0, 0, 500, 1000, -300]))
            skus.append(
                Sku(
                    product=product,
                    code=f"DEMO{product.pk:05d}-{number:02d}",
                    spec_values=chosen,
                    spec_key="|".join(f"{k}:{chosen[k]}" for k in sorted(chosen)),
                    price=price,
                    original_price=price + rng.choice([0, price // 5, price // 3]),
                    stock=rng.choice([0, 3, 8, 25, 60, 120, 300, 800]),
                    weight_g=rng.randint(50, 3000),
                )
            )
    Sku.objects.bulk_create(skus, batch_size=1000)
    ledger = [
        StockLedger(
            sku=sku,
            delta=sku.stock,
            balance=sku.stock,
            reason=StockReason.INITIAL,
            reference="demo",
        )
        for sku in Sku.objects.filter(stock__gt=0).only("id", "stock")
    ]
    StockLedger.objects.bulk_create(ledger, batch_size=1000)
    for product in products:
        prices = [s.price for s in skus if s.product_id == product.pk]
        product.min_price = min(prices)
    Product.objects.bulk_update(products, ["min_price"], batch_size=500)
    # Written around the services: nothing cached from before may be served.
    catalog_services.catalog_changed()
    progress(1)
