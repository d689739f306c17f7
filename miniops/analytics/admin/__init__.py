"""Analytics in the console: overview (also on the home page), trends,
retention, funnels, traffic sources, feature usage, the real-time monitor,
alert rules and their history, and the member timeline on member-360."""

from __future__ import annotations

from miniops.analytics.admin import widgets  # noqa: F401  (registers)
from miniops.analytics.admin.alerts import (
    AlertAdmin,
    AlertRuleAdmin,
)
from miniops.analytics.admin.common import (
    COLORS,
)
from miniops.analytics.admin.overview import (
    HEADLINE,
    MONEY,
    RATIOS,
    display,
    overview_page,
)
from miniops.analytics.admin.realtime import (
    realtime_data,
    realtime_page,
)
from miniops.analytics.admin.reports import (
    features_page,
    funnels_page,
    retention_page,
    sources_page,
    trends_page,
)

__all__ = [
    "COLORS",
    "HEADLINE",
    "MONEY",
    "RATIOS",
    "AlertAdmin",
    "AlertRuleAdmin",
    "display",
    "features_page",
    "funnels_page",
    "overview_page",
    "realtime_data",
    "realtime_page",
    "retention_page",
    "sources_page",
    "trends_page",
]
