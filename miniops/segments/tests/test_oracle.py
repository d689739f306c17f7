"""The compiled query agrees 100 % with a brute-force evaluator: per member, in
plain Python over the raw rows (members, standings, tags, addresses, orders and
their lines, coupons, events, RFM quintiles computed here from the orders), on a
random fixture, for random rule trees (hypothesis)."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from miniops.analytics import lake
from miniops.analytics.models import Event
from miniops.analytics.tests.helpers import row, store
from miniops.core.timeutils import business_tz
from miniops.marketing.models import Coupon, MemberStanding
from miniops.members.models import Address, Member
from miniops.orders.models import Order, OrderItem
from miniops.segments import compiler
from miniops.segments import rules as r
from miniops.segments.tests.helpers import member, paid_order
from miniops.testing import factories

pytestmark = pytest.mark.django_db

CITIES = ["上海", "深圳", "北京"]
PROVINCES = ["上海", "广东", "北京"]
CHANNELS = ["", "ad", "share", "qr"]
EVENTS = ["product_view", "add_to_cart", "share"]
NOW = timezone.now().replace(microsecond=0)


# --- the fixture ---------------------------------------------------------------------------
def build(seed: int, n: int = 50) -> dict[str, Any]:
    rnd = random.Random(seed)
    levels = [factories.level(), factories.level()]
    tags = [factories.member_tag(), factories.member_tag(), factories.member_tag()]
    cats = [factories.category(), factories.category()]
    products = [factories.product(category_obj=cats[i % 2]) for i in range(3)]
    templates = [factories.coupon_template(), factories.coupon_template()]
    rows = []
    for _i in range(n):
        m = member(
            gender=rnd.choice([0, 1, 2]),
            birthday=dt.date(1990, rnd.randint(1, 12), 3) if rnd.random() < 0.7 else None,
            registration_channel=rnd.choice(CHANNELS),
            registered_at=NOW - dt.timedelta(days=rnd.randint(0, 400), hours=rnd.randint(0, 23)),
        )
        if rnd.random() < 0.7:
            MemberStanding.objects.create(
                member=m,
                points=rnd.choice([0, 50, 100, 500]),
                level=rnd.choice([None, *levels]),
            )
        m.tags.set(rnd.sample(tags, rnd.randint(0, 3)))
        if rnd.random() < 0.8:
            Address.objects.create(
                member=m,
                recipient="x",
                phone="1",
                province=rnd.choice(PROVINCES),
                city=rnd.choice(CITIES),
                detail="d",
                is_default=True,
            )
        if rnd.random() < 0.3:
            Address.objects.create(
                member=m, recipient="x", phone="1", province="浙江", city="杭州", detail="d"
            )
        for _o in range(rnd.choice([0, 0, 1, 2, 3, 5])):
            paid_order(
                m,
                amount=rnd.choice([1000, 5000, 10000, 30000]),
                at=NOW - dt.timedelta(days=rnd.randint(0, 200), minutes=rnd.randint(0, 600)),
                product=rnd.choice(products) if rnd.random() < 0.8 else None,
                refunded=rnd.choice([0, 0, 0, 1000]),
            )
        for _c in range(rnd.choice([0, 0, 1, 2])):
            factories.member_coupon(
                member=m,
                template=rnd.choice(templates),
                seq=Coupon.objects.filter(member=m).count() + 1,
                status=rnd.choice(["unused", "used", "expired"]),
                valid_until=NOW + dt.timedelta(days=rnd.choice([-2, 5])),
            )
        events = []
        for _e in range(rnd.choice([0, 1, 3, 8])):
            events.append(
                row(
                    rnd.choice(EVENTS),
                    at=NOW - dt.timedelta(days=rnd.randint(0, 60), minutes=rnd.randint(1, 900)),
                    member_id=m.pk,
                    properties={"category": rnd.choice([1, 2, 3])} if rnd.random() < 0.8 else {},
                    received_at=NOW - dt.timedelta(minutes=5),
                )
            )
        if events:
            store(*events)
        rows.append(m)
    lake.reset()
    lake.export(settled_only=False)
    return {
        "levels": [x.pk for x in levels],
        "tags": [x.pk for x in tags],
        "cats": [x.pk for x in cats],
        "products": [x.pk for x in products],
        "templates": [x.pk for x in templates],
    }


# --- the brute-force evaluator --------------------------------------------------------------
class Oracle:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.now_min = now.replace(second=0, microsecond=0)
        self.members = {m.pk: m for m in Member.objects.all()}
        self.standing = {s.member_id: s for s in MemberStanding.objects.all()}
        self.tags: dict[int, set[int]] = defaultdict(set)
        for mid, tid in Member.tags.through.objects.values_list("member_id", "membertag_id"):
            self.tags[mid].add(tid)
        self.address = {a.member_id: a for a in Address.objects.filter(is_default=True)}
        self.orders: dict[int, list[Order]] = defaultdict(list)
        for o in Order.objects.all():
            self.orders[o.member_id].append(o)
        self.lines: dict[int, list[OrderItem]] = defaultdict(list)
        for item in OrderItem.objects.select_related("product"):
            self.lines[item.order_id].append(item)
        self.coupons: dict[int, list[Coupon]] = defaultdict(list)
        for c in Coupon.objects.all():
            self.coupons[c.member_id].append(c)
        self.events: dict[int, list[Event]] = defaultdict(list)
        for e in Event.objects.all():
            if e.member_id is not None:
                self.events[e.member_id].append(e)
        self.rfm = self._rfm()

    def _rfm(self) -> dict[int, tuple[int, int, int]]:
        per = {}
        for mid, orders in self.orders.items():
            paid = [o for o in orders if o.paid_at is not None]
            if paid:
                per[mid] = (
                    max(o.paid_at for o in paid),
                    len(paid),
                    sum(o.paid_amount for o in paid),
                )

        def ntile(key: Any) -> dict[int, int]:
            ordered = sorted(per, key=lambda mid: (key(per[mid]), mid))
            n, out, start = len(ordered), {}, 0
            for bucket in range(5):
                size = n // 5 + (1 if bucket < n % 5 else 0)
                for mid in ordered[start : start + size]:
                    out[mid] = bucket + 1
                start += size
            return out

        rr, ff, mm = ntile(lambda v: v[0]), ntile(lambda v: v[1]), ntile(lambda v: v[2])
        return {mid: (rr[mid], ff[mid], mm[mid]) for mid in per}

    @staticmethod
    def cmp(op: str, a: Any, b: Any) -> bool:
        return {"eq": a == b, "ne": a != b, "gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[
            op
        ]

    def in_range(self, moment: dt.datetime | None, w: r.DateRange) -> bool:
        if moment is None:
            return False
        tz = business_tz()
        ok = True
        if w.within_days is not None:
            ok &= moment >= self.now - dt.timedelta(days=w.within_days)
        if w.before_days is not None:
            ok &= moment < self.now - dt.timedelta(days=w.before_days)
        if w.after is not None:
            ok &= moment >= dt.datetime.combine(w.after, dt.time.min, tzinfo=tz)
        if w.before is not None:
            ok &= moment < dt.datetime.combine(w.before, dt.time.min, tzinfo=tz)
        return ok

    def paid(self, mid: int, days: int | None) -> list[Order]:
        out = [o for o in self.orders[mid] if o.paid_at is not None]
        if days is not None:
            out = [o for o in out if o.paid_at >= self.now - dt.timedelta(days=days)]
        return out

    def check(self, node: Any, mid: int) -> bool:
        m = self.members[mid]
        if isinstance(node, r.AndNode):
            return all(self.check(c, mid) for c in node.rules)
        if isinstance(node, r.OrNode):
            return any(self.check(c, mid) for c in node.rules)
        if isinstance(node, r.NotNode):
            return not self.check(node.rule, mid)
        if isinstance(node, r.LevelLeaf):
            s = self.standing.get(mid)
            hit = s is not None and s.level_id in node.value
            return hit if node.op == "in" else not hit
        if isinstance(node, r.TagsLeaf):
            have = self.tags[mid]
            if node.op == "all":
                return set(node.value) <= have
            hit = bool(set(node.value) & have)
            return hit if node.op == "any" else not hit
        if isinstance(node, r.ChoiceLeaf):
            if node.field == "channel":
                hit = m.registration_channel in node.value
            else:
                a = self.address.get(mid)
                hit = a is not None and getattr(a, node.field) in node.value
            return hit if node.op == "in" else not hit
        if isinstance(node, r.GenderLeaf):
            return m.gender in node.value
        if isinstance(node, r.BirthdayLeaf):
            return m.birthday is not None and m.birthday.month in node.value
        if isinstance(node, r.RegisteredLeaf):
            return self.in_range(m.registered_at, node.value)
        if isinstance(node, r.PointsLeaf):
            s = self.standing.get(mid)
            return self.cmp(node.op, s.points if s else 0, node.value)
        if isinstance(node, r.MetricLeaf):
            orders = self.paid(mid, node.days)
            total = sum(o.paid_amount for o in orders)
            target = int(node.value * 100)
            if node.metric == "orders":
                return self.cmp(node.op, Decimal(len(orders)), node.value)
            if node.metric == "gmv":
                return self.cmp(node.op, total, target)
            return bool(orders) and self.cmp(node.op, total, target * len(orders))
        if isinstance(node, r.LastOrderLeaf):
            orders = self.paid(mid, None)
            return bool(orders) and self.in_range(max(o.paid_at for o in orders), node.value)
        if isinstance(node, r.BoughtLeaf):
            for o in self.paid(mid, node.days):
                for item in self.lines[o.pk]:
                    if item.product_id in node.products or (
                        item.product.category_id in node.categories
                    ):
                        return True
            return False
        if isinstance(node, r.CouponLeaf):
            for c in self.coupons[mid]:
                if node.templates and c.template_id not in node.templates:
                    continue
                if node.state == "used" and c.status == "used":
                    return True
                if (
                    node.state == "held"
                    and c.status == "unused"
                    and (c.valid_until is None or c.valid_until > self.now)
                ):
                    return True
            return False
        if isinstance(node, r.RefundedLeaf):
            return any(
                o.refunded_amount > 0
                and (
                    node.days is None
                    or (o.paid_at and o.paid_at >= self.now - dt.timedelta(days=node.days))
                )
                for o in self.orders[mid]
            )
        if isinstance(node, r.EventLeaf):
            return self.event(node, mid)
        if isinstance(node, r.RfmLeaf):
            scores = self.rfm.get(mid)
            if scores is None:
                return False
            for bound, value in zip((node.r, node.f, node.m), scores, strict=True):
                if bound is not None and not bound[0] <= value <= bound[1]:
                    return False
            return True
        raise TypeError(node)

    def event(self, node: r.EventLeaf, mid: int) -> bool:
        def matches(e: Event) -> bool:
            if e.name != node.event or e.ts > self.now_min:
                return False
            for f in node.where:
                raw = (e.properties or {}).get(f.property)
                text = None if raw is None else str(raw)
                values = f.value if isinstance(f.value, list) else [f.value]
                if f.op == "ne":
                    if text is not None and text == values[0]:
                        return False
                elif text not in values:
                    return False
            return True

        hits = [e for e in self.events[mid] if matches(e)]
        since = self.now_min - dt.timedelta(days=node.days)
        if node.mode in {"did", "did_not"}:
            did = sum(1 for e in hits if e.ts >= since) >= node.count
            return did if node.mode == "did" else not did
        if not hits:
            return False
        if node.mode == "first_time":
            return min(e.ts for e in hits) >= since
        return max(e.ts for e in hits) < since


# --- random rules ----------------------------------------------------------------------------
def leaves(ids: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    days = st.sampled_from([1, 7, 30, 90, 365])
    rng = st.one_of(
        st.builds(lambda d: {"within_days": d}, days),
        st.builds(lambda d: {"before_days": d}, days),
        st.builds(lambda d: {"after": (NOW.date() - dt.timedelta(days=d)).isoformat()}, days),
    )
    cmp = st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"])
    sub = lambda xs: st.lists(st.sampled_from(xs), min_size=1, max_size=len(xs), unique=True)  # noqa: E731
    return st.one_of(
        st.builds(
            lambda v, op: {"type": "profile", "field": "level", "op": op, "value": v},
            sub(ids["levels"]),
            st.sampled_from(["in", "not_in"]),
        ),
        st.builds(
            lambda v, op: {"type": "profile", "field": "tags", "op": op, "value": v},
            sub(ids["tags"]),
            st.sampled_from(["any", "all", "none"]),
        ),
        st.builds(
            lambda f, v, op: {"type": "profile", "field": f, "op": op, "value": v},
            st.sampled_from(["city"]),
            sub(CITIES),
            st.sampled_from(["in", "not_in"]),
        ),
        st.builds(
            lambda v, op: {"type": "profile", "field": "province", "op": op, "value": v},
            sub(PROVINCES),
            st.sampled_from(["in", "not_in"]),
        ),
        st.builds(
            lambda v, op: {"type": "profile", "field": "channel", "op": op, "value": v},
            sub(CHANNELS),
            st.sampled_from(["in", "not_in"]),
        ),
        st.builds(lambda v: {"type": "profile", "field": "gender", "value": v}, sub([0, 1, 2])),
        st.builds(
            lambda v: {"type": "profile", "field": "birthday_month", "value": v},
            sub(list(range(1, 13))),
        ),
        st.builds(lambda v: {"type": "profile", "field": "registered", "value": v}, rng),
        st.builds(
            lambda op, v: {"type": "profile", "field": "points", "op": op, "value": v},
            cmp,
            st.sampled_from([0, 50, 100, 400]),
        ),
        st.builds(
            lambda m, op, v, d: {"type": "commerce", "metric": m, "op": op, "value": v, "days": d},
            st.sampled_from(["orders", "gmv", "aov"]),
            cmp,
            st.sampled_from([0, 1, 2, 3, 50, 100, 150, 300]),
            st.one_of(st.none(), days),
        ),
        st.builds(lambda v: {"type": "commerce", "metric": "last_order", "value": v}, rng),
        st.builds(
            lambda p, c, d: {
                "type": "commerce",
                "metric": "bought",
                "products": p,
                "categories": c,
                "days": d,
            },
            st.lists(st.sampled_from(ids["products"]), max_size=2, unique=True),
            st.lists(st.sampled_from(ids["cats"]), min_size=1, max_size=1),
            st.one_of(st.none(), days),
        ),
        st.builds(
            lambda s, t: {"type": "commerce", "metric": "coupon", "state": s, "templates": t},
            st.sampled_from(["held", "used"]),
            st.lists(st.sampled_from(ids["templates"]), max_size=1),
        ),
        st.builds(
            lambda d: {"type": "commerce", "metric": "refunded", "days": d},
            st.one_of(st.none(), days),
        ),
        st.builds(
            lambda e, mode, n, d, w: {
                "type": "event",
                "event": e,
                "mode": mode,
                "count": n,
                "days": d,
                "where": w,
            },
            st.sampled_from(EVENTS),
            st.sampled_from(["did", "did_not", "first_time", "stopped"]),
            st.sampled_from([1, 2, 3]),
            st.sampled_from([1, 7, 30]),
            st.one_of(
                st.just([]),
                st.builds(
                    lambda op, v: [
                        {"property": "category", "op": op, "value": v if op != "in" else [v, "3"]}
                    ],
                    st.sampled_from(["eq", "ne", "in"]),
                    st.sampled_from(["1", "2"]),
                ),
            ),
        ),
        st.builds(
            lambda a, b, which: {"type": "rfm", which: [min(a, b), max(a, b)]},
            st.integers(1, 5),
            st.integers(1, 5),
            st.sampled_from(["r", "f", "m"]),
        ),
    )


def trees(ids: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        leaves(ids),
        lambda children: st.one_of(
            st.builds(
                lambda xs: {"op": "and", "rules": xs}, st.lists(children, min_size=1, max_size=3)
            ),
            st.builds(
                lambda xs: {"op": "or", "rules": xs}, st.lists(children, min_size=1, max_size=3)
            ),
            st.builds(lambda x: {"op": "not", "rule": x}, children),
        ),
        max_leaves=6,
    )


def test_compiled_query_agrees_with_brute_force() -> None:
    ids = build(seed=14)
    compiler.refresh_rfm(NOW)
    oracle = Oracle(NOW)
    checked = {"rules": 0}

    @settings(
        max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
    )
    @given(trees(ids))
    def agree(raw: dict[str, Any]) -> None:
        node = r.parse(raw)
        got = set(compiler.members(node, compiler.Context(now=NOW)).values_list("pk", flat=True))
        want = {mid for mid in oracle.members if oracle.check(node, mid)}
        assert got == want, raw
        checked["rules"] += 1

    agree()
    assert checked["rules"] >= 50
    # the fixture is not degenerate: RFM scored someone, events reached the lake
    assert oracle.rfm
    assert lake.read_manifest()["parts"]


def test_a_behaviour_leaf_is_one_constant_array_in_the_statement() -> None:
    """The warm preview passes a leaf's member ids as one bound array (not the
    stored row unpacked per statement, not a parameter per id), whatever its size;
    the answer is the same as the stored set's."""
    from miniops.segments.models import LeafSet

    people = [member() for _ in range(30)]
    store(
        *[
            row(
                "share",
                at=NOW - dt.timedelta(days=1),
                member_id=person.pk,
                received_at=NOW - dt.timedelta(minutes=5),
            )
            for person in people[:20]
        ]
    )
    lake.reset()
    lake.export(settled_only=False)
    did = {"type": "event", "event": "share", "count": 1, "days": 7}
    ctx = compiler.Context(now=NOW)
    query = compiler.members(r.parse(did), ctx)
    sql, params = query.values_list("pk").query.sql_with_params()
    assert LeafSet._meta.db_table not in sql
    assert len(params) == 1
    assert set(query.values_list("pk", flat=True)) == {p.pk for p in people[:20]}
    assert LeafSet.objects.get(pk=next(iter(ctx.leafsets.values()))).size == 20
    # warm: the stored set is read once and bound the same way
    again = compiler.members(r.parse({"op": "not", "rule": did}), compiler.Context(now=NOW))
    assert set(again.values_list("pk", flat=True)) == {p.pk for p in people[20:]}
