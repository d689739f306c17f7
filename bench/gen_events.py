"""Believable behaviour events for the analytics report benchmarks, written
straight into ``analytics_event`` (COPY on PostgreSQL, ``executemany`` on SQLite).

The model: 200,000 members plus 100,000 anonymous visitors who never sign in
(for 10M events; both scale with the number of events asked for), over the 90
days ending on the day of generation (business time zone, as the app counts
days). A third of the members were customers before the window; the others make
their first visit on a day drawn with growth and weekly seasonality and register
then. Each visitor has a typical gap between visits (log-normal, median ~6 days
for members) and a chance to churn after each visit; visits on Saturdays and
Sundays are ~30 % likelier and follow a lunch / evening daily curve. A session
opens on the home page, browses categories, searches and product pages
(``page_view`` + ``product_view``, products Zipf-distributed over 520), sometimes
adds to the cart; a member with a cart sometimes orders and pays, recorded as the
server events ``order_created`` and ``order_paid`` (``source = 'server'``, as
``track()`` writes them). Each session has a WeChat scene / channel / UTM mix
(chat shares with a share code, QR codes, official-account menus, Moments ads,
search) and the visitor's device. The events of each member carry ``member_id``
(they are signed in); no aliases are recorded.

The number of events is a target (``--events``, default 10,000,000): the session
count is calibrated to it and the exact count is recorded. Re-running with the
same parameters reuses the dataset when its metadata and row count match.

    .venv/bin/python bench/gen_events.py --events 1000000            # PostgreSQL
    .venv/bin/python bench/gen_events.py --events 1000000 --sqlite bench/.build/x

PostgreSQL: the event table's secondary indexes and unique constraint are
dropped during the load and rebuilt from their saved definitions afterwards
(the usual bulk-load order; their definitions are kept in a file so that an
interrupted load restores them on the next run).
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import math
import os
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lib

VERSION = 3
META_TABLE = "bench_analytics_dataset"
DAYS = 90
MEMBERS = 200_000
PRODUCTS = 520
SEED = 20261125
#: the columns of analytics_event written (= miniops.analytics.ingest.COLUMNS)
COLUMNS = (
    "uuid",
    "name",
    "source",
    "member_id",
    "anonymous_id",
    "session_id",
    "ts",
    "day",
    "received_at",
    "path",
    "referrer",
    "scene",
    "channel",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "share_code",
    "platform",
    "os",
    "model",
    "app_version",
    "network",
    "properties",
)
ROLLUP_TABLES = (
    "analytics_visitorday",
    "analytics_visitorfirst",
    "analytics_daysummary",
    "analytics_eventday",
    "analytics_sourceday",
    "analytics_dirtyday",
    "analytics_fillstate",
    "analytics_visitoralias",
)

HOME, CATEGORY, SEARCH, DETAIL, CART, CHECKOUT, ME = (
    "pages/index/index",
    "pages/category/index",
    "pages/search/index",
    "pages/product/detail",
    "pages/cart/index",
    "pages/order/confirm",
    "pages/me/index",
)
#: local hour of day -> relative weight of a session starting then
HOUR_WEIGHTS = (
    0.6, 0.3, 0.2, 0.1, 0.1, 0.2, 0.5, 1.2, 2.0, 2.5, 2.8, 3.2,
    4.0, 3.6, 2.8, 2.6, 2.6, 2.8, 3.2, 4.0, 5.0, 5.5, 4.5, 2.0,
)  # fmt: skip
#: weekday (Monday = 0) -> relative weight of a visit
WEEKDAY_WEIGHTS = (0.92, 0.9, 0.9, 0.93, 1.0, 1.25, 1.3)
#: (scene, channel, utm_source, utm_medium, campaigns, shared, weight)
SOURCES: tuple[tuple[int, str, str, str, tuple[str, ...], bool, float], ...] = (
    (1001, "", "", "", (), False, 22),
    (1089, "", "", "", (), False, 18),
    (1256, "", "", "", (), False, 4),
    (1007, "share", "", "", (), True, 12),
    (1008, "share", "", "", (), True, 8),
    (1044, "share", "", "", (), True, 2),
    (1011, "qrcode", "offline", "poster", ("store_poster",), False, 4),
    (1047, "qrcode", "offline", "package", ("parcel_card",), False, 3),
    (1035, "official_account", "mp", "menu", (), False, 6),
    (1043, "official_account", "mp", "template", ("order_notice", "restock"), False, 4),
    (1058, "official_account", "mp", "article", ("weekly_pick", "new_season"), False, 3),
    (1045, "ads", "tencent_ads", "cpc", ("spring_sale", "retarget_cart", "new_user"), False, 7),
    (1053, "search", "", "", (), False, 4),
    (1037, "partner", "partner_app", "referral", ("coupon_swap",), False, 2),
    (1014, "subscription", "mp", "subscribe", ("price_drop",), False, 1),
)
_SOURCE_CUM = list(itertools.accumulate(s[-1] for s in SOURCES))
_HOUR_CUM = list(itertools.accumulate(HOUR_WEIGHTS))
MODELS = {
    "ios": (("iPhone15,2", "iOS 17.4"), ("iPhone14,5", "iOS 17.2"), ("iPhone16,1", "iOS 18.1")),
    "android": (
        ("HUAWEI Mate 60", "Android 12"),
        ("Xiaomi 14", "Android 14"),
        ("OPPO Reno11", "Android 14"),
        ("vivo X100", "Android 14"),
        ("HONOR 90", "Android 13"),
    ),
}
NETWORKS = ("wifi", "wifi", "wifi", "5g", "4g", "4g")
APP_VERSIONS = ("1.4.0", "1.4.0", "1.4.0", "1.3.2", "1.3.2", "1.2.9")


@dataclass
class Spec:
    """What to generate; the metadata row says what was generated."""

    events: int
    members: int = 0  # default: 200,000 per 10M events (the same visitor behaviour)
    anonymous: int = 0  # default: half the members
    days: int = DAYS
    seed: int = SEED
    version: int = VERSION

    def __post_init__(self) -> None:
        self.members = self.members or max(1000, round(MEMBERS * self.events / 10_000_000))
        self.anonymous = self.anonymous or self.members // 2

    def key(self) -> dict[str, int]:
        return {
            "events": self.events,
            "members": self.members,
            "anonymous": self.anonymous,
            "days": self.days,
            "seed": self.seed,
            "version": self.version,
        }


@dataclass
class Visitor:
    member_id: int | None
    anonymous_id: str
    platform: str
    os: str
    model: str
    app_version: str
    registered: float | None = None  # epoch seconds (members)
    first_source: int = 0


@dataclass
class Plan:
    first_day: date
    last_day: date
    visitors: list[Visitor]
    sessions: list[tuple[float, int]] = field(default_factory=list)  # (start, visitor)


# --- planning: who visits when ----------------------------------------------------------
def _tz() -> ZoneInfo:
    return ZoneInfo(os.environ.get("TIME_ZONE", "Asia/Shanghai"))


def _day_start(day: date, tz: ZoneInfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def _zipf_cum(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (k**s) for k in range(1, n + 1)))


def _pick(rng: random.Random, cum: list[float]) -> int:
    return bisect.bisect_right(cum, rng.random() * cum[-1])


def _visitors(spec: Spec, rng: random.Random) -> list[Visitor]:
    out = []
    for index in range(spec.members + spec.anonymous):
        platform = "ios" if rng.random() < 0.42 else "android"
        model, os_name = rng.choice(MODELS[platform])
        is_member = index < spec.members
        out.append(
            Visitor(
                member_id=index + 1 if is_member else None,
                anonymous_id=f"a-{rng.getrandbits(64):016x}",
                platform=platform,
                os=os_name,
                model=model,
                app_version=rng.choice(APP_VERSIONS),
            )
        )
    return out


def _simulate(
    spec: Spec, visitors: list[Visitor], first_day: date, now: float, scale: float
) -> list[tuple[float, int]]:
    """Session starts for every visitor; ``scale`` > 1 makes visits more frequent
    and churn rarer (used to calibrate the session count)."""
    rng = random.Random(spec.seed + 1)
    tz = _tz()
    window_start = _day_start(first_day, tz)
    day_starts = [_day_start(first_day + timedelta(days=d), tz) for d in range(spec.days + 1)]
    weekday = [WEEKDAY_WEIGHTS[(first_day + timedelta(days=d)).weekday()] for d in range(spec.days)]
    growth = [1.0 + 0.35 * d / spec.days for d in range(spec.days)]
    arrival_cum = list(itertools.accumulate(w * g for w, g in zip(weekday, growth, strict=True)))
    top_weekday = max(WEEKDAY_WEIGHTS)
    end = now - 3600  # a whole session fits before now
    sessions: list[tuple[float, int]] = []
    for index, visitor in enumerate(visitors):
        member = visitor.member_id is not None
        if member and rng.random() < 0.35:
            t = window_start + rng.expovariate(1.0) * rng.uniform(2, 20) * 86400
            visitor.registered = window_start - rng.uniform(1, 365) * 86400
            existing = True
        else:
            d = _pick(rng, arrival_cum)
            t = day_starts[d] + rng.random() * 86400
            existing = False
        if member:
            gap_days = math.exp(rng.gauss(math.log(6.0), 0.9))
            churn = rng.uniform(0.03, 0.25)
        else:
            gap_days = math.exp(rng.gauss(math.log(9.0), 0.9))
            churn = rng.uniform(0.35, 0.8)
        gap_days /= scale
        churn = min(0.95, churn / scale)
        first = True
        while t < end:
            d = int((t - window_start) // 86400)
            if d >= spec.days:
                break
            if first or rng.random() < weekday[d] / top_weekday:
                # Snap into the day along the daily curve.
                start = day_starts[d] + (_pick(rng, _HOUR_CUM) + rng.random()) * 3600
                if start < end:
                    sessions.append((start, index))
                    if first and member and not existing:
                        visitor.registered = start
                first = False
                if rng.random() < churn:
                    break
            t += rng.expovariate(1.0 / gap_days) * 86400 + 1800
        if member and visitor.registered is None:
            visitor.registered = window_start + rng.random() * (end - window_start)
    return sessions


def plan(spec: Spec, *, now: float | None = None, mean_events: float) -> Plan:
    rng = random.Random(spec.seed)
    now = now or time.time()
    tz = _tz()
    last_day = datetime.fromtimestamp(now, tz).date()
    first_day = last_day - timedelta(days=spec.days - 1)
    visitors = _visitors(spec, rng)
    wanted = max(1, round(spec.events / mean_events))
    scale = max(0.05, wanted / ((spec.members + spec.anonymous) * 4.0))
    for _ in range(8):
        sessions = _simulate(spec, visitors, first_day, now, scale)
        ratio = len(sessions) / wanted
        if 1.0 <= ratio < 1.04:
            break
        scale *= (1.02 / ratio) ** 0.8
    sessions = rng.sample(sessions, wanted) if len(sessions) > wanted else sessions
    sessions.sort()
    return Plan(first_day=first_day, last_day=last_day, visitors=visitors, sessions=sessions)


# --- what happens in a session -----------------------------------------------------------------
Event = tuple[Any, ...]  # (ts, name, source, path, referrer, properties-json)


class Sessions:
    """The events of one session, drawn from the session's own random stream."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.products = _zipf_cum(PRODUCTS, 1.05)
        self.order_no = 0

    def events(self, start: float, member: bool, rng: random.Random) -> list[Event]:
        out: list[Event] = []
        t = start
        prev = ""
        out.append((t, "page_view", "client", HOME, "", "{}"))
        prev = HOME
        browse = 1
        while rng.random() < 0.66 and browse < 16:
            browse += 1
        cart: list[int] = []
        for _ in range(browse):
            t += rng.expovariate(1 / 25.0) + 1.0
            r = rng.random()
            if r < 0.14:
                out.append((t, "page_view", "client", CATEGORY, prev, "{}"))
                prev = CATEGORY
            elif r < 0.21:
                out.append((t, "page_view", "client", SEARCH, prev, "{}"))
                t += rng.expovariate(1 / 6.0) + 1.0
                out.append(
                    (t, "search", "client", SEARCH, prev, f'{{"results": {rng.randint(0, 60)}}}')
                )
                prev = SEARCH
            else:
                product = _pick(rng, self.products) + 1
                out.append((t, "page_view", "client", DETAIL, prev, f'{{"product_id": {product}}}'))
                t += 0.3 + rng.random()
                out.append(
                    (t, "product_view", "client", DETAIL, prev, f'{{"product_id": {product}}}')
                )
                prev = DETAIL
                if rng.random() < 0.13:
                    t += rng.expovariate(1 / 12.0) + 1.0
                    quantity = 1 if rng.random() < 0.85 else 2
                    out.append(
                        (t, "add_to_cart", "client", DETAIL, "",
                         f'{{"product_id": {product}, "quantity": {quantity}}}')
                    )  # fmt: skip
                    cart.append(product)
                elif rng.random() < 0.025:
                    t += 2.0
                    out.append((t, "share", "client", DETAIL, "", f'{{"product_id": {product}}}'))
        if rng.random() < 0.05:
            t += rng.expovariate(1 / 20.0) + 1.0
            out.append((t, "page_view", "client", ME, prev, "{}"))
        if cart and rng.random() < 0.55:
            t += rng.expovariate(1 / 15.0) + 1.0
            out.append((t, "page_view", "client", CART, prev, "{}"))
            if member and rng.random() < 0.6:
                t += rng.expovariate(1 / 20.0) + 2.0
                out.append((t, "page_view", "client", CHECKOUT, CART, "{}"))
                self.order_no += 1
                amount = sum(rng.choice((2990, 5990, 8800, 12900, 19900)) for _ in cart)
                body = f'{{"order_id": {self.order_no}, "amount": {amount}, "items": {len(cart)}}}'
                t += rng.expovariate(1 / 8.0) + 1.0
                out.append((t, "order_created", "server", "", "", body))
                if rng.random() < 0.88:
                    t += rng.expovariate(1 / 30.0) + 5.0
                    out.append((t, "order_paid", "server", "", "", body))
        return out


def mean_session_events(samples: int = 40_000) -> float:
    rng = random.Random(7)
    sessions = Sessions(7)
    total = sum(len(sessions.events(0.0, rng.random() < 0.8, rng)) for _ in range(samples))
    return total / samples


# --- rows -------------------------------------------------------------------------------------
class Clock:
    """Formats epoch seconds as the database stores them, with per-minute caches
    (string formatting of datetimes would dominate the generator otherwise)."""

    def __init__(self, suffix: str) -> None:
        self.tz = _tz()
        self.suffix = suffix
        self.minutes: dict[int, tuple[str, str]] = {}

    def __call__(self, ts: float) -> tuple[str, str]:
        """(UTC timestamp, local day) of ``ts``."""
        micros = int(ts * 1_000_000)
        minute, rest = divmod(micros, 60_000_000)
        cached = self.minutes.get(minute)
        if cached is None:
            moment = datetime.fromtimestamp(minute * 60, UTC)
            cached = (
                moment.strftime("%Y-%m-%d %H:%M:"),
                moment.astimezone(self.tz).date().isoformat(),
            )
            self.minutes[minute] = cached
        seconds, fraction = divmod(rest, 1_000_000)
        return f"{cached[0]}{seconds:02d}.{fraction:06d}{self.suffix}", cached[1]


def rows(spec: Spec, p: Plan, *, null: Any, suffix: str) -> Iterator[list[Any]]:
    """Every event as a list of column values (strings; ``null`` for NULL; scene
    and member id as text), in session order."""
    rng = random.Random(spec.seed + 2)
    drawer = Sessions(spec.seed)
    clock = Clock(suffix)
    getrandbits = rng.getrandbits
    for start, index in p.sessions:
        visitor = p.visitors[index]
        member = visitor.member_id is not None
        source = SOURCES[_pick(rng, _SOURCE_CUM)]
        scene, channel, utm_source, utm_medium, campaigns, shared, _w = source
        campaign = rng.choice(campaigns) if campaigns else ""
        share_code = f"sc-{getrandbits(32):08x}" if shared else ""
        session_id = f"s-{getrandbits(64):016x}"
        network = rng.choice(NETWORKS)
        member_text = str(visitor.member_id) if member else null
        scene_text = str(scene)
        for ts, name, kind, path, referrer, properties in drawer.events(start, member, rng):
            stamp, day = clock(ts)
            received, _ = clock(ts + 1.5)
            if kind == "client":
                yield [
                    f"{getrandbits(128):032x}", name, kind, member_text, visitor.anonymous_id,
                    session_id, stamp, day, received, path, referrer, scene_text, channel,
                    utm_source, utm_medium, campaign, share_code, visitor.platform, visitor.os,
                    visitor.model, visitor.app_version, network, properties,
                ]  # fmt: skip
            else:
                yield [
                    f"{getrandbits(128):032x}", name, kind, member_text, "", "", stamp, day,
                    received, "", "", null, "", "", "", "", "", "", "", "", "", "", properties,
                ]  # fmt: skip


def member_rows(spec: Spec, p: Plan, *, null: Any, suffix: str) -> Iterator[list[Any]]:
    clock = Clock(suffix)
    rng = random.Random(spec.seed + 3)
    for visitor in p.visitors[: spec.members]:
        registered, _ = clock(visitor.registered or 0.0)
        source = SOURCES[_pick(rng, _SOURCE_CUM)]
        yield [
            str(visitor.member_id), f"bench-openid-{visitor.member_id}", "", "",
            f"会员{visitor.member_id}", "", str(rng.randint(0, 2)), null, "中国", "", "", "",
            "", "", registered, str(source[0]), source[1], "active", "", null, null, null,
        ]  # fmt: skip


MEMBER_COLUMNS = (
    "id", "openid", "unionid", "session_key", "nickname", "avatar_url", "gender", "birthday",
    "country", "province", "city", "phone", "phone_index", "real_name", "registered_at",
    "registration_scene", "registration_channel", "status", "blocked_reason", "blocked_at",
    "last_login_at", "referrer_id",
)  # fmt: skip


# --- client batches (ingestion benchmarks) -------------------------------------------------
#: the event mix of a batch: (name, path, referrer, with a product)
BATCH_MIX = (
    ("page_view", HOME, "", False),
    ("page_view", DETAIL, HOME, True),
    ("product_view", DETAIL, HOME, True),
    ("page_view", CATEGORY, DETAIL, False),
    ("page_view", DETAIL, CATEGORY, True),
    ("product_view", DETAIL, CATEGORY, True),
    ("add_to_cart", DETAIL, "", True),
    ("page_view", SEARCH, DETAIL, False),
    ("search", SEARCH, DETAIL, False),
    ("page_view", CART, DETAIL, False),
)


def client_batch(rng: random.Random, *, sent_at_ms: int, events: int = 100) -> dict[str, Any]:
    """One request body of ``POST /api/v1/events/batch`` as the mini-program sends
    it: one anonymous visitor's session, ``events`` events (fresh random uuids)
    spread over the seconds before ``sent_at``."""
    scene, channel, utm_source, utm_medium, campaigns, shared, _w = SOURCES[_pick(rng, _SOURCE_CUM)]
    platform = "ios" if rng.random() < 0.42 else "android"
    model, os_name = rng.choice(MODELS[platform])
    session = f"s-{rng.getrandbits(64):016x}"
    share_code = f"sc-{rng.getrandbits(32):08x}" if shared else ""
    campaign = rng.choice(campaigns) if campaigns else ""
    out = []
    for index in range(events):
        name, path, referrer, with_product = BATCH_MIX[index % len(BATCH_MIX)]
        properties: dict[str, Any] = {}
        if with_product:
            properties["product_id"] = rng.randint(1, PRODUCTS)
        if name == "add_to_cart":
            properties["quantity"] = 1
        bits = rng.getrandbits(128)
        uuid = f"{bits:032x}"
        out.append(
            {
                "uuid": f"{uuid[:8]}-{uuid[8:12]}-4{uuid[13:16]}-a{uuid[17:20]}-{uuid[20:]}",
                "name": name,
                "ts": sent_at_ms - (events - index) * 900 - rng.randint(0, 400),
                "session_id": session,
                "path": path,
                "referrer": referrer,
                "scene": scene,
                "channel": channel,
                "utm_source": utm_source,
                "utm_medium": utm_medium,
                "utm_campaign": campaign,
                "share_code": share_code,
                "properties": properties,
            }
        )
    return {
        "sent_at": sent_at_ms,
        "anonymous_id": f"a-{rng.getrandbits(64):016x}",
        "device": {
            "platform": platform,
            "os": os_name,
            "model": model,
            "app_version": rng.choice(APP_VERSIONS),
            "network": rng.choice(NETWORKS),
        },
        "events": out,
    }


def batch_rows(batch: dict[str, Any], *, null: Any, suffix: str, clock: Clock) -> list[list[Any]]:
    """The rows the server stores for ``batch`` (received at ``sent_at``), as COPY
    text fields (the raw-COPY baseline writes exactly these)."""
    received, _ = clock(batch["sent_at"] / 1000)
    device = batch["device"]
    out = []
    for event in batch["events"]:
        stamp, day = clock(event["ts"] / 1000)
        out.append(
            [
                event["uuid"], event["name"], "client", null, batch["anonymous_id"],
                event["session_id"], stamp, day, received, event["path"], event["referrer"],
                str(event["scene"]), event["channel"], event["utm_source"], event["utm_medium"],
                event["utm_campaign"], event["share_code"], device["platform"], device["os"],
                device["model"], device["app_version"], device["network"],
                json.dumps(event["properties"]),
            ]
        )  # fmt: skip
    return out


# --- metadata ------------------------------------------------------------------------------------
def _meta_ddl() -> str:
    return f"CREATE TABLE IF NOT EXISTS {META_TABLE} (id integer PRIMARY KEY, body text NOT NULL)"


def read_meta(cursor: Any) -> dict[str, Any] | None:
    cursor.execute(_meta_ddl())
    cursor.execute(f"SELECT body FROM {META_TABLE} WHERE id = 1")
    row = cursor.fetchone()
    return json.loads(row[0]) if row else None


def write_meta(cursor: Any, meta: dict[str, Any], placeholder: str) -> None:
    cursor.execute(_meta_ddl())
    cursor.execute(f"DELETE FROM {META_TABLE}")
    cursor.execute(
        f"INSERT INTO {META_TABLE} (id, body) VALUES (1, {placeholder})", [json.dumps(meta)]
    )


def _matches(meta: dict[str, Any] | None, spec: Spec, count: int) -> bool:
    return bool(
        meta
        and meta.get("key") == spec.key()
        and meta.get("complete")
        and meta.get("rows") == count
    )


# --- PostgreSQL -----------------------------------------------------------------------------------
def _index_file(dbname: str) -> Path:
    return lib.BUILD / f"{dbname}-event-indexes.json"


def _drop_indexes(cursor: Any, dbname: str) -> None:
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'analytics_event'::regclass AND contype = 'u'"
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'analytics_event' "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint "
        "WHERE conrelid = 'analytics_event'::regclass)"
    )
    indexes = cursor.fetchall()
    saved = {"constraints": constraints, "indexes": indexes}
    path = _index_file(dbname)
    if not path.exists():
        lib.BUILD.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(saved))
    for name, _definition in constraints:
        cursor.execute(f'ALTER TABLE analytics_event DROP CONSTRAINT "{name}"')
    for name, _definition in indexes:
        cursor.execute(f'DROP INDEX "{name}"')


def _restore_indexes(cursor: Any, dbname: str) -> None:
    path = _index_file(dbname)
    if not path.exists():
        return
    saved = json.loads(path.read_text())
    cursor.execute("SET maintenance_work_mem = '512MB'")
    cursor.execute("SELECT conname FROM pg_constraint WHERE conrelid = 'analytics_event'::regclass")
    present = {row[0] for row in cursor.fetchall()}
    cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'analytics_event'")
    present |= {row[0] for row in cursor.fetchall()}
    for name, definition in saved["constraints"]:
        if name not in present:
            cursor.execute(f'ALTER TABLE analytics_event ADD CONSTRAINT "{name}" {definition}')
    for name, definition in saved["indexes"]:
        if name not in present:
            cursor.execute(definition)
    path.unlink()


def ensure_postgres(dsn: str, spec: Spec, *, log: Callable[[str], None] = lib.log) -> dict:
    import psycopg

    dbname = dsn.rsplit("/", 1)[1]
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cursor:
        _restore_indexes(cursor, dbname)  # after an interrupted load
        meta = read_meta(cursor)
        cursor.execute("SELECT count(*) FROM analytics_event")
        count = cursor.fetchone()[0]
        if _matches(meta, spec, count):
            log(f"reusing the dataset in {dbname}: {count:,} events")
            return dict(meta or {})
        log(f"generating ~{spec.events:,} events into {dbname} (PostgreSQL)")
        started = time.perf_counter()
        p = plan(spec, mean_events=mean_session_events())
        log(f"planned {len(p.sessions):,} sessions in {time.perf_counter() - started:.0f} s")
        tables = ", ".join(("analytics_event", "members_member", *ROLLUP_TABLES))
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        cursor.execute(f"DELETE FROM {META_TABLE}")
        with conn.transaction():
            with cursor.copy(f"COPY members_member ({', '.join(MEMBER_COLUMNS)}) FROM STDIN") as cp:
                for row in member_rows(spec, p, null="\\N", suffix="+00"):
                    cp.write("\t".join(row) + "\n")
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('members_member', 'id'), "
                "(SELECT max(id) FROM members_member))"
            )
        _drop_indexes(cursor, dbname)
        copied = 0
        load_started = time.perf_counter()
        copy_sql = f"COPY analytics_event ({', '.join(COLUMNS)}) FROM STDIN"
        with conn.transaction(), cursor.copy(copy_sql) as cp:
            buffer: list[str] = []
            for row in rows(spec, p, null="\\N", suffix="+00"):
                buffer.append("\t".join(row))
                if len(buffer) >= 20_000:
                    buffer.append("")
                    cp.write("\n".join(buffer))
                    copied += len(buffer) - 1
                    buffer = []
                    if copied % 1_000_000 < 20_000:
                        log(f"  {copied:,} events")
            if buffer:
                buffer.append("")
                cp.write("\n".join(buffer))
                copied += len(buffer) - 1
        copy_seconds = time.perf_counter() - load_started
        log(f"copied {copied:,} events in {copy_seconds:.0f} s; rebuilding indexes")
        index_started = time.perf_counter()
        _restore_indexes(cursor, dbname)
        index_seconds = time.perf_counter() - index_started
        cursor.execute("ANALYZE analytics_event")
        cursor.execute("ANALYZE members_member")
        meta = {
            "key": spec.key(),
            "rows": copied,
            "sessions": len(p.sessions),
            "first_day": p.first_day.isoformat(),
            "last_day": p.last_day.isoformat(),
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "generate_and_copy_seconds": round(copy_seconds, 1),
            "index_seconds": round(index_seconds, 1),
            "complete": True,
        }
        write_meta(cursor, meta, "%s")
        log(f"dataset ready in {time.perf_counter() - started:.0f} s")
        return meta


# --- SQLite ---------------------------------------------------------------------------------------
def ensure_sqlite(path: Path, spec: Spec, *, log: Callable[[str], None] = lib.log) -> dict:
    """``path``: the SQLite file (migrated already)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        cursor = conn.cursor()
        meta = read_meta(cursor)
        count = cursor.execute("SELECT count(*) FROM analytics_event").fetchone()[0]
        if _matches(meta, spec, count):
            log(f"reusing the dataset in {path}: {count:,} events")
            return dict(meta or {})
        log(f"generating ~{spec.events:,} events into {path} (SQLite)")
        started = time.perf_counter()
        p = plan(spec, mean_events=mean_session_events())
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("BEGIN")
        for table in ("analytics_event", "members_member", *ROLLUP_TABLES, META_TABLE):
            cursor.execute(f"DELETE FROM {table}")
        cursor.execute("DELETE FROM sqlite_sequence WHERE name = 'analytics_event'")
        member_sql = (
            f"INSERT INTO members_member ({', '.join(MEMBER_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(MEMBER_COLUMNS))})"
        )
        cursor.executemany(member_sql, member_rows(spec, p, null=None, suffix=""))
        event_sql = (
            f"INSERT INTO analytics_event ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(COLUMNS))})"
        )
        load_started = time.perf_counter()
        cursor.executemany(event_sql, rows(spec, p, null=None, suffix=""))
        cursor.execute("COMMIT")
        copy_seconds = time.perf_counter() - load_started
        copied = cursor.execute("SELECT count(*) FROM analytics_event").fetchone()[0]
        cursor.execute("ANALYZE")
        meta = {
            "key": spec.key(),
            "rows": copied,
            "sessions": len(p.sessions),
            "first_day": p.first_day.isoformat(),
            "last_day": p.last_day.isoformat(),
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "generate_and_copy_seconds": round(copy_seconds, 1),
            "complete": True,
        }
        cursor.execute("BEGIN")
        write_meta(cursor, meta, "?")
        cursor.execute("COMMIT")
        log(f"dataset ready in {time.perf_counter() - started:.0f} s ({copied:,} events)")
        return meta
    finally:
        conn.close()


def update_meta_postgres(dsn: str, **values: Any) -> dict:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cursor:
        meta = read_meta(cursor) or {}
        meta.update(values)
        write_meta(cursor, meta, "%s")
        return meta


def update_meta_sqlite(path: Path, **values: Any) -> dict:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        cursor = conn.cursor()
        meta = read_meta(cursor) or {}
        meta.update(values)
        cursor.execute("BEGIN")
        write_meta(cursor, meta, "?")
        cursor.execute("COMMIT")
        return meta
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=int(os.environ.get("BENCH_EVENTS", 10**7)))
    parser.add_argument("--database", help="PostgreSQL database (default by size)")
    parser.add_argument("--sqlite", type=Path, help="a MINIOPS_VAR_DIR for the embedded default")
    args = parser.parse_args()
    spec = Spec(events=args.events)
    if args.sqlite:
        env = lib.embedded_env(args.sqlite.resolve())
        lib.manage(env, "migrate", "--no-input", "-v0")
        ensure_sqlite(args.sqlite.resolve() / "miniops.sqlite3", spec)
    else:
        env = lib.services_env(args.database or database_for(spec.events))
        lib.manage(env, "migrate", "--no-input", "-v0")
        ensure_postgres(env["DATABASE_URL"], spec)
    return 0


def size_label(events: int) -> str:
    return f"{events // 1_000_000}m" if events % 1_000_000 == 0 else f"{events // 1000}k"


def database_for(events: int) -> str:
    """One PostgreSQL database per dataset size, so a quick 1M run keeps the 10M set
    (``<BENCH_DATABASE>_<size>`` when BENCH_DATABASE names the caller's own)."""
    prefix = os.environ.get("BENCH_DATABASE") or "miniops_bench_analytics"
    return f"{prefix}_{size_label(events)}"


if __name__ == "__main__":
    sys.exit(main())
