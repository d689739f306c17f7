"""Conversion funnels over the event lake (DuckDB)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from django.utils.translation import gettext as _

from miniops.analytics import lake
from miniops.analytics.scenes import scene_name
from miniops.analytics.selectors.common import Table, _ratio
from miniops.core.timeutils import range_bounds

# --- funnels ------------------------------------------------------------------------------
#: step filters on these names use the column; any other name is a JSON property
FILTER_COLUMNS = {"path", "scene", "channel", "utm_source", "share_code", "platform", "session_id"}
BREAKDOWNS = {"scene", "channel", "utm_source", "platform"}


def _step_condition(step: dict[str, Any], alias: str = "") -> tuple[str, list[Any]]:
    prefix = f"{alias}." if alias else ""
    condition, params = f"{prefix}name = ?", [step["event"]]
    prop = step.get("property") or ""
    if prop:
        if prop in FILTER_COLUMNS:
            condition += f" AND CAST({prefix}{prop} AS VARCHAR) = ?"
        else:
            condition += f" AND json_extract_string({prefix}properties, ?) = ?"
            params.append(f'$."{prop}"')  # names are [A-Za-z0-9_] (services.clean_steps)
        params.append(
            str(step["value"]).lower() if isinstance(step["value"], bool) else str(step["value"])
        )
    return condition, params


def funnel(
    steps: list[dict[str, Any]],
    first: date,
    last: date,
    *,
    window_hours: int = 24,
    breakdown: str = "",
) -> dict[str, Any]:
    """Visitors who did step 1 in [first, last] (their first time in the range),
    then each next step in order within ``window_hours`` of that first step."""
    if breakdown and breakdown not in BREAKDOWNS:
        breakdown = ""
    window = f"INTERVAL {int(window_hours)} HOUR"
    group = f"CAST({breakdown} AS VARCHAR)" if breakdown else "''"
    conditions = [_step_condition(step) for step in steps]
    ctes, params = [], []
    any_step = " OR ".join(f"({c})" for c, _ in conditions)
    for _c, p in conditions:
        params += p
    ctes.append(
        f"e AS (SELECT id, visitor, ts, name, {', '.join(sorted(FILTER_COLUMNS | BREAKDOWNS))}, "
        f"properties FROM ev WHERE visitor IS NOT NULL AND day >= ? AND day <= ? AND ({any_step}))"
    )
    params = [first, last + timedelta(days=window_hours // 24 + 1), *params]
    first_condition, first_params = _step_condition(steps[0])
    # each visitor's first step 1 in the range (earliest ts, then lowest id): a
    # grouped arg_min, several times cheaper than a window over all step-1 events
    ctes.append(
        f"s1 AS (SELECT visitor, arg_min({group}, (ts, id)) AS grp, min(ts) AS t1, "
        "arg_min(id, (ts, id)) AS i1 "
        f"FROM e WHERE ({first_condition}) AND ts >= ? AND ts < ? GROUP BY visitor)"
    )
    start, end = range_bounds(first, last)
    params += [*first_params, start, end]
    for index in range(1, len(steps)):
        condition, step_params = _step_condition(steps[index], "e")
        previous = f"s{index}"
        carried = ", ".join(f"p.t{i}, p.i{i}" for i in range(1, index + 1))
        # strictly after the previous step's event (one event is never two steps)
        after = f"(e.ts > p.t{index} OR (e.ts = p.t{index} AND e.id > p.i{index}))"
        ctes.append(
            f"s{index + 1} AS (SELECT p.visitor, p.grp, {carried}, MIN(e.ts) AS t{index + 1}, "
            f"arg_min(e.id, e.ts) AS i{index + 1} "
            f"FROM {previous} p JOIN e ON e.visitor = p.visitor AND ({condition}) "
            f"AND {after} AND e.ts <= p.t1 + {window} "
            f"GROUP BY p.visitor, p.grp, {carried})"
        )
        params += step_params
    selects = []
    for index in range(1, len(steps) + 1):
        gap = f"median(epoch(t{index}) - epoch(t{index - 1}))" if index > 1 else "NULL"
        selects.append(
            f"SELECT {index} AS step, grp, COUNT(*) AS n, {gap} AS gap FROM s{index} GROUP BY grp"
        )
    sql = "WITH " + ", ".join(ctes) + " " + " UNION ALL ".join(selects)
    with lake.connect() as db:
        result = db.execute(sql, params).fetchall()
    by_group: dict[str, dict[int, tuple[int, float | None]]] = defaultdict(dict)
    for step_no, grp, n, gap in result:
        by_group[grp or ""][int(step_no)] = (int(n), float(gap) if gap is not None else None)
    totals: dict[int, int] = defaultdict(int)
    for values in by_group.values():
        for step_no, (n, _gap) in values.items():
            totals[step_no] += n
    overall_gaps = _overall_gaps(by_group, len(steps))
    rows = []
    for index, step in enumerate(steps, start=1):
        n = totals.get(index, 0)
        before = totals.get(index - 1, 0) if index > 1 else n
        rows.append(
            {
                "step": index,
                "label": step.get("label") or _step_label(step),
                "visitors": n,
                "conversion_from_previous": _ratio(n, before) if index > 1 else 1.0 if n else 0.0,
                "conversion_from_first": _ratio(n, totals.get(1, 0)),
                "drop_off": before - n if index > 1 else 0,
                "median_seconds_from_previous": overall_gaps.get(index),
            }
        )
    breakdown_rows = []
    if breakdown:
        for grp, values in sorted(by_group.items(), key=lambda kv: -kv[1].get(1, (0, None))[0]):
            counts = [values.get(i, (0, None))[0] for i in range(1, len(steps) + 1)]
            breakdown_rows.append(
                {
                    "value": grp,
                    "label": scene_name(grp) if breakdown == "scene" else grp or _("(none)"),
                    "counts": counts,
                    "conversion": _ratio(counts[-1], counts[0]),
                }
            )
    table = Table(
        columns=[
            _("Step"),
            _("Visitors"),
            _("Conversion from previous step"),
            _("Conversion from first step"),
            _("Drop-off"),
            _("Median time from previous step (s)"),
        ]
    )
    for row in rows:
        table.rows.append(
            [
                f"{row['step']}. {row['label']}",
                row["visitors"],
                row["conversion_from_previous"],
                row["conversion_from_first"],
                row["drop_off"],
                row["median_seconds_from_previous"] or "",
            ]
        )
    return {
        "steps": rows,
        "breakdown": breakdown,
        "breakdown_rows": breakdown_rows,
        "data_until": lake.freshness(),
        "table": table,
    }


def _overall_gaps(
    by_group: dict[str, dict[int, tuple[int, float | None]]], n_steps: int
) -> dict[int, float | None]:
    """The median gap per step over all groups (weighted medians of medians would be
    wrong; with one group it is exact, with several it is the count-weighted median
    of the group medians — documented in the operator guide)."""
    gaps: dict[int, float | None] = {}
    for index in range(2, n_steps + 1):
        samples = []
        for values in by_group.values():
            n, gap = values.get(index, (0, None))
            if gap is not None:
                samples += [gap] * n
        gaps[index] = round(statistics.median(samples), 1) if samples else None
    return gaps


def _step_label(step: dict[str, Any]) -> str:
    if step.get("property"):
        return f"{step['event']} ({step['property']} = {step['value']})"
    return str(step["event"])
