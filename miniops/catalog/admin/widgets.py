"""The low-stock card on the console home."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from miniops.catalog import selectors
from miniops.core.console import (
    DashboardWidget,
    site,
)
from miniops.core.permissions import P


def _low_stock(request: HttpRequest) -> dict[str, Any]:
    from miniops.core.selectors import get_system_settings

    return {
        "skus": selectors.low_stock_skus(),
        "threshold": get_system_settings().low_stock_threshold,
    }


site.register_widget(
    DashboardWidget(
        "low_stock",
        _("Low stock"),
        P.CATALOG_VIEW,
        "catalog/widgets/low_stock.html",
        _low_stock,
        order=200,
    )
)
