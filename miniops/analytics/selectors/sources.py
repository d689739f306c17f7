"""Traffic sources and feature usage."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from django.db.models import Count, Sum
from django.utils.translation import gettext as _

from miniops.analytics.models import EventDay, SourceDay
from miniops.analytics.scenes import scene_name
from miniops.analytics.selectors.common import Table, _days
from miniops.core.exports import yuan
from miniops.members.channels import channel_label


# --- traffic sources and feature usage --------------------------------------------------------
def sources(first: date, last: date, *, by: str = "scene") -> dict[str, Any]:
    """Visitors, new members, orders and GMV per scene, channel, UTM source or share."""
    field_name = {"scene": "scene", "channel": "channel", "utm_source": "utm_source"}.get(by, "")
    qs = SourceDay.objects.filter(day__gte=first, day__lte=last)
    grouped = qs.values(field_name) if field_name else qs.values("via_share")
    rows = []
    for entry in grouped.annotate(
        visitors=Sum("visitors"),
        new_members=Sum("new_members"),
        orders=Sum("orders"),
        gmv=Sum("gmv"),
    ).order_by("-visitors"):
        value = entry.get(field_name) if field_name else entry["via_share"]
        if by == "scene":
            label = scene_name(value)
        elif by == "channel" and value:
            label = channel_label(str(value))
        elif not field_name:
            label = _("Share links") if value else _("Not from a share")
        else:
            label = str(value or _("(none)"))
        rows.append(
            {
                "value": value,
                "label": label,
                "visitors": entry["visitors"],
                "new_members": entry["new_members"],
                "orders": entry["orders"],
                "gmv": entry["gmv"],
            }
        )
    table = Table(
        columns=[_("Source"), _("Visitors"), _("New members"), _("Orders"), _("GMV (yuan)")]
    )
    for row in rows:
        table.rows.append(
            [row["label"], row["visitors"], row["new_members"], row["orders"], yuan(row["gmv"])]
        )
    return {"by": by, "rows": rows, "table": table}


def features(first: date, last: date, *, least: int = 5) -> dict[str, Any]:
    """PV / UV per page and per event; the least-used ones flagged. UV over several
    days sums the daily unique visitors (a visitor counted once per day)."""
    rows: list[dict[str, Any]] = [
        dict(row)
        for row in EventDay.objects.filter(day__gte=first, day__lte=last)
        .values("name", "path")
        .annotate(count=Sum("count"), visitors=Sum("visitors"), days=Count("day"))
        .order_by("-count")
    ]
    daily: dict[tuple[str, str], dict[date, int]] = defaultdict(dict)
    for name, path, day, count in EventDay.objects.filter(
        day__gte=first, day__lte=last
    ).values_list("name", "path", "day", "count"):
        daily[(name, path)][day] = count
    days = _days(first, last)
    client_rows = [
        r for r in rows if not r["name"].startswith(("order_", "refund_", "member_", "after_sale_"))
    ]
    flagged = {
        (r["name"], r["path"]) for r in sorted(client_rows, key=lambda r: r["count"])[:least]
    }
    out = []
    for row in rows:
        key = (row["name"], row["path"])
        out.append(
            {
                "name": row["name"],
                "path": row["path"],
                "count": row["count"],
                "visitors": row["visitors"],
                "trend": [daily[key].get(day, 0) for day in days],
                "least_used": key in flagged,
            }
        )
    table = Table(
        columns=[_("Event"), _("Page"), _("Count (PV)"), _("Visitors (UV, daily)"), _("Least used")]
    )
    for row in out:
        table.rows.append(
            [
                row["name"],
                row["path"],
                row["count"],
                row["visitors"],
                "✓" if row["least_used"] else "",
            ]
        )
    return {"rows": out, "days": days, "table": table}
