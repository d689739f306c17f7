"""Rules → one query over members (decision 0019).

Each leaf becomes a boolean SQL expression that is never NULL (an ``EXISTS`` or a
``COALESCE``d comparison), so ``and`` / ``or`` / ``not`` are plain boolean algebra
and mean the same on PostgreSQL and SQLite. Everything is Django ORM — no SQL
strings — except the behaviour leaves, which are one DuckDB query each over the
event lake's ``ev`` view; their member sets are stored once per (leaf, day, lake
generation) in ``LeafSet`` (one row, the ids comma-joined) and joined with ``IN`` over one
constant array of those ids (so the planner knows the set's size and hashes it). No member
is ever looked at one by one in Python.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import (
    Count,
    F,
    Max,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.expressions import RawSQL
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
)
from django.utils import timezone

from miniops.analytics import lake
from miniops.core.timeutils import business_tz
from miniops.marketing.models import Coupon, CouponStatus, MemberStanding
from miniops.members.models import Address, Member
from miniops.orders.models import Order, OrderItem
from miniops.segments import rules as r
from miniops.segments.models import LeafSet, MemberRfm

LOOKUPS = {
    "eq": Exact,
    "gt": GreaterThan,
    "gte": GreaterThanOrEqual,
    "lt": LessThan,
    "lte": LessThanOrEqual,
}


@dataclass
class Context:
    """What a compile needs besides the rules: the moment "now" means, and the
    behaviour leaf sets resolved so far (for the explain and the bench)."""

    now: dt.datetime = field(default_factory=timezone.now)
    leafsets: dict[str, int] = field(default_factory=dict)
    lake_ms: float = 0.0
    #: leaf set id -> its member ids comma-joined (read once per compile)
    packed: dict[int, str] = field(default_factory=dict)


def _in(ids: Any) -> Q:
    """Members whose id is in the one-column query ``ids`` — uncorrelated, so
    both databases compute the set once (a hashed subplan / an ephemeral index)
    instead of probing per member. The ids are never NULL, so ``NOT IN`` is safe."""
    return Q(pk__in=ids)


def _metric(grouped: Any, name: str, op: str, value: Any) -> Q:
    """``value_of(member) op value`` where ``grouped`` gives (member, ``name``)
    for the members that have any rows, and every other member counts 0."""
    members = grouped.values("member")
    everyone = Q(pk__isnull=False)  # not Q(): an empty Q negates to itself
    if op == "gte":
        return everyone if value <= 0 else _in(members.filter(**{f"{name}__gte": value}))
    if op == "gt":
        return everyone if value < 0 else _in(members.filter(**{f"{name}__gt": value}))
    if op == "lte":
        return ~_in(members.filter(**{f"{name}__gt": value}))
    if op == "lt":
        return Q(pk__in=[]) if value <= 0 else ~_in(members.filter(**{f"{name}__gte": value}))
    if op == "eq":
        if value == 0:
            return ~_in(members.exclude(**{name: 0}))
        return _in(members.filter(**{name: value}))
    # ne
    if value == 0:
        return _in(members.exclude(**{name: 0}))
    return ~_in(members.filter(**{name: value}))


def _local_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=business_tz())


def _date_q(prefix: str, window: r.DateRange, ctx: Context) -> Q:
    """Conditions on the datetime column ``prefix`` (never on NULL)."""
    q = Q(**{f"{prefix}__isnull": False})
    if window.within_days is not None:
        q &= Q(**{f"{prefix}__gte": ctx.now - dt.timedelta(days=window.within_days)})
    if window.before_days is not None:
        q &= Q(**{f"{prefix}__lt": ctx.now - dt.timedelta(days=window.before_days)})
    if window.after is not None:
        q &= Q(**{f"{prefix}__gte": _local_start(window.after)})
    if window.before is not None:
        q &= Q(**{f"{prefix}__lt": _local_start(window.before)})
    return q


def _paid_orders(ctx: Context, days: int | None) -> QuerySet[Order]:
    orders = Order.objects.filter(paid_at__isnull=False)
    if days is not None:
        orders = orders.filter(paid_at__gte=ctx.now - dt.timedelta(days=days))
    return orders


def _fen(value: Decimal) -> int:
    return int((Decimal(value) * 100).to_integral_value())


# --- leaves ------------------------------------------------------------------------------
def _profile(leaf: Any, ctx: Context) -> Q:
    if isinstance(leaf, r.LevelLeaf):
        q = _in(MemberStanding.objects.filter(level_id__in=leaf.value).values("member_id"))
        return ~q if leaf.op == "not_in" else q
    if isinstance(leaf, r.TagsLeaf):
        through = Member.tags.through.objects
        if leaf.op == "all":
            q = Q()
            for tag in leaf.value:
                q &= _in(through.filter(membertag_id=tag).values("member_id"))
            return q
        q = _in(through.filter(membertag_id__in=leaf.value).values("member_id"))
        return ~q if leaf.op == "none" else q
    if isinstance(leaf, r.ChoiceLeaf):
        if leaf.field == "channel":
            q = Q(registration_channel__in=leaf.value)  # never NULL
        else:
            q = _in(
                Address.objects.filter(is_default=True, **{f"{leaf.field}__in": leaf.value}).values(
                    "member_id"
                )
            )
        return ~q if leaf.op == "not_in" else q
    if isinstance(leaf, r.GenderLeaf):
        return Q(gender__in=leaf.value)
    if isinstance(leaf, r.BirthdayLeaf):
        return Q(birthday__isnull=False, birthday__month__in=leaf.value)
    if isinstance(leaf, r.RegisteredLeaf):
        return _date_q("registered_at", leaf.value, ctx)
    if isinstance(leaf, r.PointsLeaf):
        return _metric(MemberStanding.objects.all(), "points", leaf.op, leaf.value)
    raise TypeError(leaf)


def _commerce(leaf: Any, ctx: Context) -> Q:
    if isinstance(leaf, r.MetricLeaf):
        orders = _paid_orders(ctx, leaf.days).order_by().values("member")
        if leaf.metric == "aov":
            # gmv / orders compared without a division: sum op value × count
            grouped = orders.annotate(s=Sum("paid_amount"), c=Count("pk"))
            target = _fen(leaf.value)
            buyers = _in(grouped.values("member"))
            if leaf.op == "ne":
                return buyers & ~_in(grouped.filter(s=F("c") * target).values("member"))
            lookup = {"eq": "exact", "gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}[leaf.op]
            return _in(grouped.filter(**{f"s__{lookup}": F("c") * target}).values("member"))
        if leaf.metric == "orders":
            if (leaf.op, leaf.value) in {("gte", 1), ("gt", 0)}:
                # "at least one order": the buyers, without counting per member
                return _in(orders.values("member"))
            return _metric(orders.annotate(n=Count("pk")), "n", leaf.op, leaf.value)
        return _metric(orders.annotate(s=Sum("paid_amount")), "s", leaf.op, _fen(leaf.value))
    if isinstance(leaf, r.LastOrderLeaf):
        last = _paid_orders(ctx, None).order_by().values("member").annotate(last=Max("paid_at"))
        return _in(last.filter(_date_q("last", leaf.value, ctx)).values("member"))
    if isinstance(leaf, r.BoughtLeaf):
        lines = OrderItem.objects.filter(order__paid_at__isnull=False)
        if leaf.days is not None:
            lines = lines.filter(order__paid_at__gte=ctx.now - dt.timedelta(days=leaf.days))
        which = Q()
        if leaf.products:
            which |= Q(product_id__in=leaf.products)
        if leaf.categories:
            which |= Q(product__category_id__in=leaf.categories)
        return _in(lines.filter(which).values("order__member_id"))
    if isinstance(leaf, r.CouponLeaf):
        status = CouponStatus.UNUSED if leaf.state == "held" else CouponStatus.USED
        coupons = Coupon.objects.filter(status=status)
        if leaf.state == "held":
            coupons = coupons.filter(Q(valid_until__isnull=True) | Q(valid_until__gt=ctx.now))
        if leaf.templates:
            coupons = coupons.filter(template_id__in=leaf.templates)
        return _in(coupons.values("member_id"))
    if isinstance(leaf, r.RefundedLeaf):
        refunded = Order.objects.filter(refunded_amount__gt=0)
        if leaf.days is not None:
            refunded = refunded.filter(paid_at__gte=ctx.now - dt.timedelta(days=leaf.days))
        return _in(refunded.values("member_id"))
    raise TypeError(leaf)


def _rfm(leaf: r.RfmLeaf) -> Q:
    scores = MemberRfm.objects.all()
    for name in ("r", "f", "m"):
        bound = getattr(leaf, name)
        if bound is not None:
            scores = scores.filter(**{f"{name}__gte": bound[0], f"{name}__lte": bound[1]})
    return _in(scores.values("member_id"))


# --- behaviour: DuckDB over the event lake ------------------------------------------------------
def event_sql(leaf: r.EventLeaf, now: dt.datetime) -> tuple[str, list[Any]]:
    """The DuckDB query listing the member ids matching ``leaf`` (for ``did_not``:
    those matching its opposite, ``did``; the compiler negates)."""
    since = now - dt.timedelta(days=leaf.days)
    cond, params = "name = ? AND mid IS NOT NULL AND ts <= ?", [leaf.event, now]
    for filt in leaf.where:
        values = filt.value if isinstance(filt.value, list) else [filt.value]
        extract = "json_extract_string(properties, ?)"
        params.append(f'$."{filt.property}"')
        if filt.op == "ne":
            cond += f" AND coalesce({extract} <> ?, true)"
            params.append(values[0])
        else:
            marks = ", ".join("?" for _ in values)
            cond += f" AND {extract} IN ({marks})"
            params.extend(values)
    if leaf.mode in {"did", "did_not"}:
        sql = f"SELECT mid FROM ev WHERE {cond} AND ts >= ? GROUP BY mid HAVING count(*) >= ?"  # noqa: S608 - identifiers from models, values bound
        return sql, [*params, since, leaf.count]
    if leaf.mode == "first_time":
        sql = f"SELECT mid FROM ev WHERE {cond} GROUP BY mid HAVING min(ts) >= ?"  # noqa: S608 - identifiers from models, values bound
        return sql, [*params, since]
    # stopped: did it before the window, not inside it
    sql = f"SELECT mid FROM ev WHERE {cond} GROUP BY mid HAVING max(ts) < ?"  # noqa: S608 - identifiers from models, values bound
    return sql, [*params, since]


def _leaf_key(leaf: r.EventLeaf, now: dt.datetime, generation: str) -> str:
    # Relative windows move with time; a leaf set is reused within one minute.
    text = json.dumps(
        [r.dump(leaf), now.replace(second=0, microsecond=0).isoformat(), generation],
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def leafset(leaf: r.EventLeaf, ctx: Context) -> int:
    """The id of the stored member set of ``leaf`` (asked of DuckDB once)."""
    import time

    generation = str(lake.read_manifest().get("generation") or "")
    now = ctx.now.replace(second=0, microsecond=0)
    key = _leaf_key(leaf, now, generation)
    existing = LeafSet.objects.filter(key=key).values_list("pk", "members").first()
    if existing is not None:
        ctx.leafsets[key] = existing[0]
        ctx.packed[existing[0]] = existing[1]
        return existing[0]
    started = time.perf_counter()
    sql, params = event_sql(leaf, now)
    # the set comes back from DuckDB as one row: its size and its ids joined by
    # commas, in order — no row per member through Python or the database
    packed = (
        "SELECT count(*), coalesce(string_agg(CAST(mid AS VARCHAR), ',' ORDER BY mid), '') "  # noqa: S608 - the query is ours, values bound
        f"FROM ({sql}) AS leaf"
    )
    with lake.connect() as db:
        row = db.execute(packed, params).fetchone()
    size, ids = (int(row[0]), str(row[1])) if row else (0, "")
    ctx.lake_ms += (time.perf_counter() - started) * 1000
    try:
        with transaction.atomic():
            header = LeafSet.objects.create(
                key=key, size=size, members=ids, created_at=timezone.now()
            )
    except IntegrityError:
        header = LeafSet.objects.get(key=key)
    ctx.leafsets[key] = header.pk
    ctx.packed[header.pk] = header.members
    return header.pk


def leaf_members(packed: str) -> RawSQL:
    """The member ids of a leaf set (``LeafSet.members``, comma-joined) as a
    one-column subquery over **one constant array** bound in the statement
    (``unnest(%s::bigint[])`` on PostgreSQL, ``json_each(%s)`` on SQLite): one
    parameter whatever the set's size, and the stored row is no longer unpacked
    inside the member query. PostgreSQL now estimates the unnest right (100,000
    rows, not 10) but still guesses 200 distinct ids after de-duplication and
    keeps the nested loop that probes the members' primary key once per leaf
    member (EXPLAIN ANALYZE, 200,000 members, 100,000 in the leaf: ~0.8 s either
    way, load ~5): not fixed yet — ``= ANY(array)`` (a hashed filter) or a
    temporary table with ANALYZE are the next things to try."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", ["{" + packed + "}"])
    return RawSQL("SELECT CAST(j.value AS INTEGER) FROM json_each(%s) j", ["[" + packed + "]"])


def _event(leaf: r.EventLeaf, ctx: Context) -> Q:
    pk = leafset(leaf, ctx)
    q = _in(leaf_members(ctx.packed[pk]))
    return ~q if leaf.mode == "did_not" else q


# --- the tree ------------------------------------------------------------------------------
def to_q(node: Any, ctx: Context) -> Q:
    if isinstance(node, r.AndNode):
        q = Q()
        for child in node.rules:
            q &= to_q(child, ctx)
        return q
    if isinstance(node, r.OrNode):
        out = to_q(node.rules[0], ctx)
        for child in node.rules[1:]:
            out |= to_q(child, ctx)
        return out
    if isinstance(node, r.NotNode):
        return ~to_q(node.rule, ctx)
    if getattr(node, "type", None) == "profile":
        return _profile(node, ctx)
    if getattr(node, "type", None) == "commerce":
        return _commerce(node, ctx)
    if isinstance(node, r.EventLeaf):
        return _event(node, ctx)
    if isinstance(node, r.RfmLeaf):
        return _rfm(node)
    raise TypeError(node)


def members(node: Any, ctx: Context | None = None) -> QuerySet[Member]:
    """Members matching the rule tree ``node`` (already validated)."""
    return Member.objects.filter(to_q(node, ctx or Context())).order_by()


def uses_rfm(node: Any) -> bool:
    return any(isinstance(leaf, r.RfmLeaf) for leaf in r.walk(node))


# --- RFM ---------------------------------------------------------------------------------
def refresh_rfm(now: dt.datetime | None = None) -> int:
    """Rebuild ``MemberRfm`` from paid orders in one statement: quintiles with
    ``NTILE(5)`` ordered by (value, member id) so ties break the same way on
    both databases. Returns the number of scored members."""
    now = now or timezone.now()
    table = MemberRfm._meta.db_table
    orders = Order._meta.db_table
    sql = f"""
        INSERT INTO {table} (member_id, r, f, m, last_paid_at, orders, gmv, computed_at)
        SELECT member_id,
               NTILE(5) OVER (ORDER BY last_paid_at, member_id),
               NTILE(5) OVER (ORDER BY n, member_id),
               NTILE(5) OVER (ORDER BY gmv, member_id),
               last_paid_at, n, gmv, %s
        FROM (SELECT member_id, MAX(paid_at) AS last_paid_at, COUNT(*) AS n,
                     SUM(paid_amount) AS gmv
              FROM {orders} WHERE paid_at IS NOT NULL GROUP BY member_id) AS per_member
    """  # noqa: S608 - identifiers from models, values bound
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - identifiers from models, values bound
        cursor.execute(sql, [now])
        return int(cursor.rowcount or 0)
