"""Analytics reads: every report the console and the management API show.

Overview, trends, traffic sources and feature usage read the rollups (a few
hundred rows at most); retention reads the visitor × day rollup, or the event
lake when "returned" means one chosen event; funnels read the lake (DuckDB).
Each report returns plain data plus a ``table`` (columns and rows) that the
CSV / XLSX export writes as it is."""

from __future__ import annotations

from miniops.analytics.selectors.catalog import (
    event_names,
    event_properties,
)
from miniops.analytics.selectors.common import (
    EARLIEST,
    LATEST,
    MAX_RANGE_DAYS,
    METRICS,
    SUMMED,
    Table,
    period_metrics,
    validate_range,
)
from miniops.analytics.selectors.funnels import (
    BREAKDOWNS,
    FILTER_COLUMNS,
    funnel,
)
from miniops.analytics.selectors.live import (
    member_timeline,
    realtime_snapshot,
)
from miniops.analytics.selectors.overview import (
    OVERVIEW_PERIODS,
    overview,
)
from miniops.analytics.selectors.retention import (
    retention,
)
from miniops.analytics.selectors.same_hours import (
    SAME_HOURS,
    same_hours,
)
from miniops.analytics.selectors.sources import (
    features,
    sources,
)
from miniops.analytics.selectors.trends import (
    GRAINS,
    trend,
    trends,
)

__all__ = [
    "BREAKDOWNS",
    "EARLIEST",
    "FILTER_COLUMNS",
    "GRAINS",
    "LATEST",
    "MAX_RANGE_DAYS",
    "METRICS",
    "OVERVIEW_PERIODS",
    "SAME_HOURS",
    "SUMMED",
    "Table",
    "event_names",
    "event_properties",
    "features",
    "funnel",
    "member_timeline",
    "overview",
    "period_metrics",
    "realtime_snapshot",
    "retention",
    "same_hours",
    "sources",
    "trend",
    "trends",
    "validate_range",
]
