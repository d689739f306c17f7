"""Ninety days of believable behaviour for the demo members.

Visitors come back more on weekends and during a promotion week; each visit is a
session from a source (scene, channel, share link) with page and product views,
searches, add-to-cart and checkout steps; every order of the orders table in
those days appears as ``order_created`` / ``order_paid`` / ``order_cancelled``
server events at its real times, preceded by the buyer's browsing session, so
funnels end in real orders and the commerce figures match the orders table.
Anonymous visitors browse too, and some of them sign in (their earlier events
then count for the member). Then the rollups are built and the lake exported, so
every report shows something true on first start.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from django.db import connection, transaction
from django.utils import timezone

from miniops.analytics import ingest, lake, rollups, services, storage
from miniops.analytics.models import (
    Alert,
    AlertRule,
    DaySummary,
    DirtyDay,
    Event,
    EventDay,
    FillState,
    Funnel,
    SourceDay,
    VisitorAlias,
    VisitorDay,
    VisitorFirst,
)
from miniops.core.timeutils import business_tz, local_date

STEPS = 12
DAYS = 90
DAILY_VISITS = 650  # member visits on an ordinary weekday
ANONYMOUS_SHARE = 0.3
PROMOTION = (18, 12)  # days ago: the "双12 warm-up" week
SCENES = [
    (1001, 18),
    (1005, 10),
    (1007, 14),
    (1008, 12),
    (1011, 6),
    (1047, 8),
    (1089, 15),
    (1104, 9),
    (1037, 4),
    (1035, 4),
]
CHANNELS = [
    ("", 45),
    ("share", 16),
    ("wechat_ads", 14),
    ("douyin", 9),
    ("xiaohongshu", 8),
    ("kol_live", 5),
    ("sms", 3),
]
PLATFORMS = [("ios", 45), ("android", 52), ("devtools", 3)]
PAGES = [
    "pages/index/index",
    "pages/category/index",
    "pages/search/index",
    "pages/cart/index",
    "pages/me/index",
]
RARE = [("live_room_view", "pages/live/room"), ("gift_card_view", "pages/gift/index")]


def _weighted(rng: random.Random, options: list[tuple[Any, int]]) -> Any:
    return rng.choices([o for o, _w in options], weights=[w for _o, w in options])[0]


def clear() -> None:
    for model in (
        Alert,
        AlertRule,
        Funnel,
        SourceDay,
        EventDay,
        DaySummary,
        VisitorFirst,
        VisitorDay,
        DirtyDay,
        FillState,
        VisitorAlias,
        Event,
    ):
        model.objects.all().delete()
    lake.reset()


#: A session's shared columns: source, member_id, anonymous_id, session_id,
#: referrer, scene, channel, utm_source, utm_medium, utm_campaign, share_code,
#: platform, os, model, app_version, network — and the local time's UTC offset
#: (for the event's business day), last.
Context = tuple[Any, ...]
_V4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_V4_SET = (4 << 76) | (0x8000 << 48)


class _Writer:
    """Collects the generated events and stores them in large chunks.

    Events are kept as (context, name, naive UTC time, path, properties) and only
    turned into rows when a chunk is written: on PostgreSQL through
    ``storage.insert`` (COPY); on SQLite with one ``executemany`` of values
    adapted here as Django stores them (every uuid is new, so the request path's
    look-up of known uuids and its per-value ORM adaptation would only cost time;
    ``INSERT OR IGNORE`` still keeps a uuid once). The days the events fall on are
    rebuilt by the seeder afterwards, so no ``DirtyDay`` marks are written."""

    CHUNK = 20_000

    def __init__(self, now: datetime) -> None:
        self.events: list[tuple[Context, str, datetime, str, dict[str, Any]]] = []
        self.now = now.astimezone(UTC).replace(tzinfo=None)
        self.tz = business_tz()
        self.total = 0
        self.sqlite = connection.vendor == "sqlite"

    def context(self, at: datetime, *, source: str = "client", **fields: Any) -> Context:
        get = fields.get
        return (
            source,
            get("member_id"),
            get("anonymous_id", ""),
            get("session_id", ""),
            get("referrer", ""),
            get("scene"),
            get("channel", ""),
            get("utm_source", ""),
            get("utm_medium", ""),
            get("utm_campaign", ""),
            get("share_code", ""),
            get("platform", ""),
            get("os", ""),
            get("model", ""),
            get("app_version", ""),
            get("network", ""),
            at.astimezone(self.tz).utcoffset() or timedelta(0),
        )

    @staticmethod
    def utc(moment: datetime) -> datetime:
        return moment.astimezone(UTC).replace(tzinfo=None)

    def add(self, name: str, ts: datetime, *, source: str = "client", **fields: Any) -> None:
        """One event on its own (the server's): ``ts`` is aware."""
        context = self.context(ts, source=source, **fields)
        self.event(context, name, self.utc(ts), fields.get("path", ""), fields.get("properties"))

    def event(
        self,
        context: Context,
        name: str,
        moment: datetime,
        path: str,
        properties: dict[str, Any] | None = None,
    ) -> None:
        """One event of a session: ``moment`` is naive UTC."""
        self.events.append((context, name, moment, path, properties or {}))
        if len(self.events) >= self.CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.events:
            return
        if self.sqlite:
            self._executemany()
        else:
            self._copy()
        self.total += len(self.events)
        self.events = []

    def _parts(self) -> Iterator[tuple[str, Context, str, datetime, datetime, str, Any]]:
        """(uuid hex, context, name, time, received, path, properties) per event."""
        bits, now, three = random.getrandbits, self.now, timedelta(seconds=3)
        for context, name, moment, path, properties in self.events:
            uuid_hex = f"{(bits(128) & _V4_CLEAR) | _V4_SET:032x}"
            received = moment + three
            yield (
                uuid_hex,
                context,
                name,
                moment,
                received if received < now else now,
                path,
                properties,
            )

    def _executemany(self) -> None:
        values = [
            (
                uuid_hex,
                name,
                *context[:4],
                str(moment),  # as Django stores times on SQLite: naive UTC
                (moment + context[16]).date().isoformat(),
                str(received),
                path,
                *context[4:16],
                orjson.dumps(properties).decode(),
            )
            for uuid_hex, context, name, moment, received, path, properties in self._parts()
        ]
        marks = ", ".join(["%s"] * len(ingest.COLUMNS))
        # Table and column names are the model's own, never input.
        sql = f"INSERT OR IGNORE INTO {Event._meta.db_table} ({', '.join(ingest.COLUMNS)}) VALUES ({marks})"  # noqa: S608
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, values)

    def _copy(self) -> None:
        storage.insert(
            [
                ingest.Row(
                    uuid=uuid.UUID(uuid_hex),
                    name=name,
                    source=context[0],
                    member_id=context[1],
                    anonymous_id=context[2],
                    session_id=context[3],
                    ts=moment.replace(tzinfo=UTC),
                    day=(moment + context[16]).date(),
                    received_at=received.replace(tzinfo=UTC),
                    path=path,
                    referrer=context[4],
                    scene=context[5],
                    channel=context[6],
                    utm_source=context[7],
                    utm_medium=context[8],
                    utm_campaign=context[9],
                    share_code=context[10],
                    platform=context[11],
                    os=context[12],
                    model=context[13],
                    app_version=context[14],
                    network=context[15],
                    properties=properties,
                )
                for uuid_hex, context, name, moment, received, path, properties in self._parts()
            ]
        )


def _session(
    writer: _Writer,
    rng: random.Random,
    start: datetime,
    *,
    member_id: int | None,
    anonymous_id: str,
    products: list[int],
    buy: bool = False,
) -> None:
    """One visit: landing page, browsing, maybe cart and checkout."""
    scene = _weighted(rng, SCENES)
    channel = _weighted(rng, CHANNELS)
    if scene in (1007, 1008):
        channel = "share"
    context = writer.context(
        start,
        member_id=member_id,
        anonymous_id=anonymous_id,
        session_id=f"s-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}",
        scene=scene,
        channel=channel,
        utm_source=channel if channel in ("wechat_ads", "douyin", "xiaohongshu") else "",
        utm_medium="cpc" if channel == "wechat_ads" else "",
        share_code=f"sh{rng.randint(1000, 9999)}" if channel == "share" else "",
        platform=_weighted(rng, PLATFORMS),
        app_version=rng.choice(["1.8.2", "1.9.0", "1.9.1"]),
        network=rng.choice(["wifi", "wifi", "4g", "5g"]),
    )
    add = writer.event
    moment = writer.utc(start)
    landing = "pages/index/index" if channel != "share" else "pages/product/detail"
    add(context, "page_view", moment, landing)
    views = rng.choice([1, 1, 2, 2, 3, 4, 6]) + (2 if buy else 0)
    for _ in range(views):
        moment += timedelta(seconds=rng.uniform(8, 90))
        if rng.random() < 0.25:
            add(context, "page_view", moment, rng.choice(PAGES))
            if rng.random() < 0.4:
                moment += timedelta(seconds=rng.uniform(3, 20))
                keyword = rng.choice(["T恤", "保温杯", "耳机", "面霜", "零食"])
                add(context, "search", moment, "pages/search/index", {"keyword": keyword})
        product = rng.choice(products)
        add(context, "page_view", moment, "pages/product/detail")
        add(
            context,
            "product_view",
            moment + timedelta(milliseconds=300),
            "pages/product/detail",
            {"product_id": product},
        )
        if rng.random() < 0.04:
            moment += timedelta(seconds=rng.uniform(5, 30))
            to = rng.choice(["chat", "moments"])
            add(context, "share", moment, "pages/product/detail", {"product_id": product, "to": to})
    if rng.random() < 0.02:
        name, path = rng.choice(RARE)
        moment += timedelta(seconds=rng.uniform(10, 60))
        add(context, "page_view", moment, path)
        add(context, name, moment, path)
    if buy or rng.random() < 0.12:
        moment += timedelta(seconds=rng.uniform(10, 60))
        added = rng.choice(products)
        add(context, "add_to_cart", moment, "pages/product/detail", {"product_id": added})
        if buy or rng.random() < 0.35:
            moment += timedelta(seconds=rng.uniform(10, 90))
            add(context, "page_view", moment, "pages/cart/index")
            add(context, "checkout_start", moment, "pages/checkout/index")


def _visit_days(now: datetime) -> Iterator[tuple[date, float]]:
    today = local_date(now)
    for back in range(DAYS - 1, -1, -1):
        day = today - timedelta(days=back)
        factor = 1.3 if day.weekday() >= 5 else 1.0
        if PROMOTION[1] <= back <= PROMOTION[0]:
            factor *= 1.8
        if back == 0:  # today so far
            local_now = now.astimezone(business_tz())
            factor *= (local_now.hour * 60 + local_now.minute) / 1440
        yield day, factor


def seed(*, progress: Callable[[int], object]) -> None:
    from miniops.catalog.models import Product, ProductStatus
    from miniops.members.models import Member

    if Event.objects.filter(source="client").exists():
        progress(STEPS)
        return
    # The history's server events are generated below from the orders table, with
    # their real times; seed_demo withholds the ones the services track while the
    # other apps seed (they would be dated now), and any stored are replaced.
    services.flush_server_events()
    Event.objects.filter(source="server").delete()
    rng = random.Random(5)
    random.seed(5)
    now = timezone.now()
    members = [
        (pk, registered.astimezone(business_tz()).date())
        for pk, registered in Member.objects.filter(openid__startswith="oDEMO").values_list(
            "pk", "registered_at"
        )
    ]
    products = list(
        Product.objects.filter(status=ProductStatus.ON_SALE).values_list("pk", flat=True)
    )
    if not members or not products:
        progress(STEPS)
        return
    with _bulk_load():
        anonymous_pool = _generate(_Writer(now), rng, now, members, products, progress)
    # After a bulk load, fresh statistics for the query planner: the rollups below
    # (and every report afterwards) choose their indexes by them.
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Event._meta.db_table}")
    # Some anonymous visitors signed in later: their earlier visits count for them.
    for anonymous_id in rng.sample(anonymous_pool, k=300):
        member_id = rng.choice(members)[0]
        VisitorAlias.objects.get_or_create(
            anonymous_id=anonymous_id, defaults={"member_id": member_id}
        )
    _live_counters(now)
    rollups.rebuild_range(local_date(now) - timedelta(days=DAYS - 1), local_date(now))
    progress(2)
    DirtyDay.objects.all().delete()
    lake.export(settled_only=False)
    _examples()
    progress(1)


def _generate(
    writer: _Writer,
    rng: random.Random,
    now: datetime,
    members: list[tuple[int, date]],
    products: list[int],
    progress: Callable[[int], object],
) -> list[str]:
    """The 90 days' events: the buyers' sessions and server events of every order
    of the window, registrations, then everyday browsing, all stored. Returns the
    anonymous visitors' ids."""
    from miniops.members.models import Member
    from miniops.orders.models import Order

    tz = business_tz()
    since = now - timedelta(days=DAYS)
    # Orders of the window: their buyers' sessions, then the server events.
    orders = list(
        Order.objects.filter(created_at__gte=since).values_list(
            "pk", "number", "member_id", "created_at", "paid_at", "cancelled_at", "payable_amount"
        )
    )
    for pk, number, member_id, created, paid_at, cancelled_at, amount in orders:
        start = created - timedelta(minutes=rng.uniform(3, 15))
        _session(
            writer, rng, start, member_id=member_id, anonymous_id="", products=products, buy=True
        )
        properties = {"order_id": pk, "number": number, "amount": amount}
        writer.add(
            "order_created", created, source="server", member_id=member_id, properties=properties
        )
        if paid_at:
            writer.add(
                "order_paid", paid_at, source="server", member_id=member_id, properties=properties
            )
        if cancelled_at:
            writer.add(
                "order_cancelled",
                cancelled_at,
                source="server",
                member_id=member_id,
                properties=properties,
            )
    progress(2)
    for member_id, registered in Member.objects.filter(
        openid__startswith="oDEMO", registered_at__gte=since
    ).values_list("pk", "registered_at"):
        writer.add(
            "member_registered", registered, source="server", member_id=member_id, properties={}
        )
    # Everyday browsing, members and anonymous visitors.
    anonymous_pool = [f"anon-{uuid.UUID(int=rng.getrandbits(128)).hex[:20]}" for _ in range(4000)]
    step_every = max(1, DAYS // (STEPS - 5))
    for index, (day, factor) in enumerate(_visit_days(now)):
        day_start = datetime(day.year, day.month, day.day, tzinfo=tz)
        eligible = [m for m in members if m[1] <= day]
        visits = int(DAILY_VISITS * factor * rng.uniform(0.9, 1.1))
        for member_id, _registered in rng.sample(eligible, k=min(len(eligible), visits)):
            start = day_start + timedelta(hours=_hour(rng), minutes=rng.uniform(0, 59))
            if start < now - timedelta(minutes=1):
                _session(
                    writer, rng, start, member_id=member_id, anonymous_id="", products=products
                )
        for _ in range(int(visits * ANONYMOUS_SHARE)):
            start = day_start + timedelta(hours=_hour(rng), minutes=rng.uniform(0, 59))
            if start < now - timedelta(minutes=1):
                _session(
                    writer,
                    rng,
                    start,
                    member_id=None,
                    anonymous_id=rng.choice(anonymous_pool),
                    products=products,
                )
        if index % step_every == 0:
            progress(1)
    writer.flush()
    return anonymous_pool


@contextmanager
def _bulk_load() -> Iterator[None]:
    """On SQLite, an empty event table is loaded without its secondary indexes,
    which are built again from their own definitions afterwards: one sort per
    index instead of ~800,000 scattered inserts into each (the uuid's UNIQUE
    index stays, so a uuid is still kept once). Elsewhere, or with events
    already there, nothing changes."""
    table = Event._meta.db_table
    if connection.vendor != "sqlite" or Event.objects.exists():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master"
            " WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL",
            [table],
        )
        indexes = cursor.fetchall()
        for name, _sql in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for _name, sql in indexes:
                cursor.execute(sql)


def _hour(rng: random.Random) -> float:
    """Hours of the day weighted like a shop's traffic (lunch and evening peaks)."""
    return float(
        rng.choices(
            range(24),
            weights=[2, 1, 1, 1, 1, 1, 2, 4, 6, 6, 7, 8, 10, 9, 7, 7, 7, 8, 9, 11, 13, 13, 10, 5],
        )[0]
    )


def _live_counters(now: datetime) -> None:
    """The last two hours of demo events feed the real-time monitor."""
    recent = Event.objects.filter(ts__gte=now - timedelta(hours=2))
    rows = [
        ingest.Row(**{name: getattr(event, name) for name in ingest.COLUMNS})
        for event in recent.iterator(chunk_size=5000)
    ]
    services.count_live(rows)


def _examples() -> None:
    Funnel.objects.get_or_create(
        name="下单转化",
        defaults={
            "steps": [
                {"event": "page_view", "property": "", "value": None},
                {"event": "product_view", "property": "", "value": None},
                {"event": "add_to_cart", "property": "", "value": None},
                {"event": "order_paid", "property": "", "value": None},
            ],
            "window_hours": 24,
        },
    )
    Funnel.objects.get_or_create(
        name="分享进店到下单",
        defaults={
            "steps": [
                {"event": "page_view", "property": "channel", "value": "share"},
                {"event": "product_view", "property": "", "value": None},
                {"event": "order_created", "property": "", "value": None},
            ],
            "window_hours": 72,
        },
    )
    rule, _ = AlertRule.objects.get_or_create(
        name="支付失败过多",
        defaults={
            "metric": AlertRule.Metric.PAYMENT_FAILURES,
            "condition": AlertRule.Condition.ABOVE,
            "threshold": 5,
            "window_minutes": 5,
            "cooldown_minutes": 30,
        },
    )
    AlertRule.objects.get_or_create(
        name="访客较上周骤降",
        defaults={
            "metric": AlertRule.Metric.VISITORS,
            "condition": AlertRule.Condition.CHANGE_DOWN,
            "threshold": 50,
            "window_minutes": 15,
            "cooldown_minutes": 60,
        },
    )
    AlertRule.objects.get_or_create(
        name="接口 5xx",
        defaults={
            "metric": AlertRule.Metric.API_5XX,
            "condition": AlertRule.Condition.ABOVE,
            "threshold": 20,
            "window_minutes": 5,
            "cooldown_minutes": 15,
        },
    )
    if not Alert.objects.exists():
        fired = timezone.now() - timedelta(days=3, hours=2)
        Alert.objects.create(
            rule=rule,
            fired_at=fired,
            value=9,
            message="支付失败过多：最近 5 分钟 支付失败 = 9",
            webhook_status="",
            acknowledged_at=fired + timedelta(minutes=12),
        )
