"""Rollups: the tables reports read, rebuilt a whole day at a time.

A day is rebuilt from its raw events (and the orders, refunds and members of that
day) by deleting its rollup rows and inserting them again in one transaction, so
a rebuild can be rerun at any time and always gives the same answer — the
property the tests check against a recomputation from raw events. Which days to
rebuild comes from ``DirtyDay`` (written with the events, see ``storage``) plus
today and yesterday; the periodic task takes the marks before rebuilding, so a
mark written during a rebuild triggers another one.

A visitor is ``m<member id>`` — directly, or through ``VisitorAlias`` for events
sent before they signed in — or ``a<anonymous id>``. Only client events count as
activity (an operator shipping an order does not make its buyer active).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from miniops.analytics.models import (
    DaySummary,
    DirtyDay,
    EventDay,
    FillState,
    SourceDay,
    VisitorDay,
    VisitorFirst,
)
from miniops.core.timeutils import day_bounds, local_date

logger = logging.getLogger("miniops.analytics")

CHECKPOINT = "rollups"


def _duration_seconds(low: str, high: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({high} - {low}))"
    return f"((julianday({high}) - julianday({low})) * 86400.0)"


def _visitor_sql() -> str:
    """Client events of one day (``%s``) with their resolved visitor."""
    return """
        SELECT e.id, e.name, e.path, e.ts, e.session_id, e.scene, e.channel,
               e.utm_source, e.share_code,
               COALESCE(e.member_id, a.member_id) AS mid,
               CASE WHEN e.member_id IS NOT NULL THEN 'm' || e.member_id
                    WHEN a.member_id IS NOT NULL THEN 'm' || a.member_id
                    ELSE 'a' || e.anonymous_id END AS visitor
        FROM analytics_event e
        LEFT JOIN analytics_visitoralias a
               ON e.member_id IS NULL AND a.anonymous_id = e.anonymous_id
        WHERE e.day = %s AND e.source = 'client'
    """


def rebuild_day(day: date, *, cascade: bool = True) -> set[date]:
    """Rebuild every rollup of ``day`` from the raw data. ``cascade``: also the
    WAU/MAU of the later days whose windows include it. Returns the later days
    whose figures this changed (a visitor's first visit moved to ``day``)."""
    with transaction.atomic(), connection.cursor() as cursor:
        for model in (VisitorDay, EventDay, SourceDay):
            model.objects.filter(day=day).delete()
        ev = _visitor_sql()
        cursor.execute(
            f"""
            INSERT INTO analytics_visitorday
                (day, visitor, member_id, events, pageviews, scene, channel, utm_source, via_share)
            SELECT %s, agg.visitor, agg.mid, agg.events, agg.pageviews,
                   f.scene, f.channel, f.utm_source, f.share_code <> ''
            FROM (SELECT visitor, MAX(mid) AS mid, COUNT(*) AS events,
                         SUM(CASE WHEN name = 'page_view' THEN 1 ELSE 0 END) AS pageviews
                  FROM ({ev}) ev GROUP BY visitor) agg
            JOIN (SELECT visitor, scene, channel, utm_source, share_code,
                         ROW_NUMBER() OVER (PARTITION BY visitor ORDER BY ts, id) AS n
                  FROM ({ev}) ev) f
              ON f.visitor = agg.visitor AND f.n = 1
            """,
            [day, day, day],
        )
        # A late event can make this the first visit of someone first seen on a
        # later day: that day's "new visitors" changes too.
        moved = set(
            VisitorFirst.objects.filter(
                visitor__in=VisitorDay.objects.filter(day=day).values("visitor"), first_day__gt=day
            ).values_list("first_day", flat=True)
        )
        least = "LEAST" if connection.vendor == "postgresql" else "MIN"
        cursor.execute(
            f"""
            INSERT INTO analytics_visitorfirst (visitor, first_day)
            SELECT visitor, day FROM analytics_visitorday WHERE day = %s
            ON CONFLICT (visitor) DO UPDATE
               SET first_day = {least}(analytics_visitorfirst.first_day, excluded.first_day)
            """,
            [day],
        )
        # Counts and unique visitors per event and page (server events included:
        # "order_paid" is an event operators count too).
        cursor.execute(
            """
            INSERT INTO analytics_eventday (day, name, path, count, visitors)
            SELECT %s, e.name, e.path, COUNT(*),
                   COUNT(DISTINCT CASE WHEN e.member_id IS NOT NULL THEN 'm' || e.member_id
                                       WHEN a.member_id IS NOT NULL THEN 'm' || a.member_id
                                       WHEN e.anonymous_id <> '' THEN 'a' || e.anonymous_id
                                  END)
            FROM analytics_event e
            LEFT JOIN analytics_visitoralias a
                   ON e.member_id IS NULL AND a.anonymous_id = e.anonymous_id
            WHERE e.day = %s
            GROUP BY e.name, e.path
            """,
            [day, day],
        )
        duration = _duration_seconds("MIN(ts)", "MAX(ts)")
        cursor.execute(
            f"""
            SELECT COUNT(*), COALESCE(SUM(seconds), 0) FROM (
                SELECT {duration} AS seconds FROM analytics_event
                WHERE day = %s AND source = 'client' AND session_id <> ''
                GROUP BY session_id) s
            """,
            [day],
        )
        sessions, session_seconds = cursor.fetchone()
        commerce = _commerce(day)
        _sources(day, commerce["paid_by_member"])
        summary = VisitorDay.objects.filter(day=day).aggregate(
            visitors=Count("id"), pageviews=Sum("pageviews")
        )
        DaySummary.objects.update_or_create(
            day=day,
            defaults={
                "pageviews": summary["pageviews"] or 0,
                "visitors": summary["visitors"],
                "new_visitors": VisitorFirst.objects.filter(first_day=day).count(),
                "sessions": sessions,
                "session_seconds": round(float(session_seconds or 0)),
                "new_members": commerce["new_members"],
                "orders": commerce["orders"],
                "paid_orders": commerce["paid_orders"],
                "gmv": commerce["gmv"],
                "paying_members": commerce["paying_members"],
                "refunds": commerce["refunds"],
                "refund_amount": commerce["refund_amount"],
                "built_at": timezone.now(),
            },
        )
        _rolling_actives(day, min(local_date(), day + timedelta(days=29)) if cascade else day)
    return moved


def _commerce(day: date) -> dict[str, Any]:
    from miniops.members.models import Member
    from miniops.orders.models import Order, Refund, RefundStatus

    start, end = day_bounds(day)
    paid = Order.objects.filter(paid_at__gte=start, paid_at__lt=end)
    paid_by_member: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for member_id, amount in paid.values_list("member_id", "paid_amount"):
        paid_by_member[member_id][0] += 1
        paid_by_member[member_id][1] += amount
    refunds = Refund.objects.filter(
        status=RefundStatus.SUCCESS, succeeded_at__gte=start, succeeded_at__lt=end
    ).aggregate(n=Count("id"), amount=Sum("amount"))
    return {
        "new_members": Member.objects.filter(
            registered_at__gte=start, registered_at__lt=end
        ).count(),
        "orders": Order.objects.filter(created_at__gte=start, created_at__lt=end).count(),
        "paid_orders": sum(n for n, _ in paid_by_member.values()),
        "gmv": sum(amount for _, amount in paid_by_member.values()),
        "paying_members": len(paid_by_member),
        "refunds": refunds["n"],
        "refund_amount": refunds["amount"] or 0,
        "paid_by_member": dict(paid_by_member),
    }


def _sources(day: date, paid_by_member: dict[int, list[int]]) -> None:
    """Visitors, new members, orders and GMV by the source of each visitor's first
    session that day; orders of members with no visit that day go to "unknown"."""
    from miniops.members.models import Member

    start, end = day_bounds(day)
    registered = set(
        Member.objects.filter(registered_at__gte=start, registered_at__lt=end).values_list(
            "pk", flat=True
        )
    )
    buckets: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    seen_members: set[int] = set()
    for member_id, scene, channel, utm_source, via_share in VisitorDay.objects.filter(
        day=day
    ).values_list("member_id", "scene", "channel", "utm_source", "via_share"):
        bucket = buckets[(scene, channel, utm_source, via_share)]
        bucket[0] += 1
        if member_id is not None:
            seen_members.add(member_id)
            bucket[1] += member_id in registered
            orders, gmv = paid_by_member.get(member_id, (0, 0))
            bucket[2] += orders
            bucket[3] += gmv
    unknown = buckets[(None, "", "", False)]
    unknown[1] += len(registered - seen_members)
    for member_id, (orders, gmv) in paid_by_member.items():
        if member_id not in seen_members:
            unknown[2] += orders
            unknown[3] += gmv
    SourceDay.objects.bulk_create(
        [
            SourceDay(
                day=day,
                scene=scene,
                channel=channel,
                utm_source=utm_source,
                via_share=via_share,
                visitors=values[0],
                new_members=values[1],
                orders=values[2],
                gmv=values[3],
            )
            for (scene, channel, utm_source, via_share), values in buckets.items()
            if any(values)
        ]
    )


def _rolling_actives(day: date, last: date) -> None:
    """WAU and MAU of every day in [day, last]."""
    current = day
    while current <= last:
        wau = (
            VisitorDay.objects.filter(day__gt=current - timedelta(days=7), day__lte=current)
            .values("visitor")
            .distinct()
            .count()
        )
        mau = (
            VisitorDay.objects.filter(day__gt=current - timedelta(days=30), day__lte=current)
            .values("visitor")
            .distinct()
            .count()
        )
        DaySummary.objects.filter(day=current).update(wau=wau, mau=mau)
        current += timedelta(days=1)


# --- the periodic run -------------------------------------------------------------------------
def take_dirty_days() -> list[date]:
    """The marked days plus today and yesterday; the marks are removed first, in
    their own committed transaction, so a mark written during the rebuild stays."""
    today = local_date()
    with transaction.atomic():
        marked = list(DirtyDay.objects.select_for_update().values_list("day", flat=True))
        DirtyDay.objects.filter(day__in=marked).delete()
    return sorted(set(marked) | {today, today - timedelta(days=1)})


def run() -> list[date]:
    """Rebuild what needs it; returns the days rebuilt. Safe to run concurrently
    with ingestion and to rerun after a crash (the checkpoint says ``running``)."""
    state, _ = FillState.objects.get_or_create(name=CHECKPOINT)
    FillState.objects.filter(pk=state.pk).update(state="running", last_run=timezone.now())
    days = take_dirty_days()
    done: list[date] = []
    try:
        todo = list(days)
        while todo:
            day = todo.pop(0)
            moved = rebuild_day(day)
            done.append(day)
            todo.extend(sorted(d for d in moved if d not in todo))
    except Exception as exc:
        # Put the marks back: the next run retries those days.
        now = timezone.now()
        DirtyDay.objects.bulk_create(
            [DirtyDay(day=day, marked_at=now) for day in days], ignore_conflicts=True
        )
        FillState.objects.filter(pk=state.pk).update(state="failed", last_error=repr(exc)[:2000])
        raise
    FillState.objects.filter(pk=state.pk).update(state="done", last_error="")
    return done


def rebuild_range(first: date, last: date) -> int:
    """Rebuild every day in [first, last] (``manage.py analytics_rebuild``)."""
    count = 0
    current = first
    moved: set[date] = set()
    while current <= last:
        moved |= rebuild_day(current, cascade=False)
        moved.discard(current)
        current += timedelta(days=1)
        count += 1
    for day in sorted(d for d in moved if d > last):
        rebuild_day(day, cascade=False)
    # the later days' WAU/MAU windows include the rebuilt ones
    _rolling_actives(last + timedelta(days=1), min(local_date(), last + timedelta(days=29)))
    return count
