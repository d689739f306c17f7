"""Demo segments over the demo's members, orders and events: new buyers,
lapsed high spenders, cart abandoners, RFM champions, a behaviour segment of
product viewers, and a static snapshot. Computed at once, like the scheduler
would (the analytics demo has already exported the event lake)."""

from __future__ import annotations

from collections.abc import Callable

from miniops.segments import services
from miniops.segments.models import LeafSet, MemberRfm, Segment

STEPS = 2

DEMO: list[tuple[str, str, dict[str, object]]] = [
    (
        "新客（30 天内首单）",
        "只下过一单，且在最近 30 天",
        {
            "op": "and",
            "rules": [
                {"type": "commerce", "metric": "orders", "op": "eq", "value": 1},
                {"type": "commerce", "metric": "last_order", "value": {"within_days": 30}},
            ],
        },
    ),
    (
        "流失的高消费会员",
        "累计消费 ≥ 500 元，60 天以上没有下单",
        {
            "op": "and",
            "rules": [
                {"type": "commerce", "metric": "gmv", "op": "gte", "value": 500},
                {"type": "commerce", "metric": "last_order", "value": {"before_days": 60}},
            ],
        },
    ),
    (
        "加购未下单",
        "最近 7 天加购过，但 7 天内没有支付订单",
        {
            "op": "and",
            "rules": [
                {"type": "event", "event": "add_to_cart", "mode": "did", "count": 1, "days": 7},
                {
                    "op": "not",
                    "rule": {
                        "type": "commerce",
                        "metric": "orders",
                        "op": "gte",
                        "value": 1,
                        "days": 7,
                    },
                },
            ],
        },
    ),
    (
        "RFM 冠军",
        "最近、频次、金额都在前 40%",
        {"type": "rfm", "r": [4, 5], "f": [4, 5], "m": [4, 5]},
    ),
    (
        "活跃浏览者",
        "最近 14 天浏览商品 ≥ 3 次",
        {"type": "event", "event": "product_view", "mode": "did", "count": 3, "days": 14},
    ),
]


def clear() -> None:
    Segment.objects.all().delete()
    LeafSet.objects.all().delete()
    MemberRfm.objects.all().delete()


def seed(*, progress: Callable[[int], object]) -> None:
    if Segment.objects.exists():
        progress(STEPS)
        return
    created = [
        services.create_segment(actor=None, name=name, description=description, rules=rules)
        for name, description, rules in DEMO
    ]
    progress(1)
    services.snapshot(actor=None, segment=created[3], name="RFM 冠军（快照）")
    progress(1)
