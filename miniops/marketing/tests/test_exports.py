"""Campaign results exports: coupon, flash sale and group buy names that a
spreadsheet would run come out escaped, in CSV and XLSX; figures stay numbers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.test import Client

from miniops.core.timeutils import local_date
from miniops.testing import factories
from miniops.testing.exports import HOSTILE, HOSTILE_XLSX, column, csv_rows, xlsx_rows

pytestmark = pytest.mark.django_db

RESULTS = "/console/marketing/results/"
NAME, ISSUED = 0, 2


def make(table: str, name: str) -> Any:
    if table == "coupons":
        return factories.coupon_template(name=name)
    if table == "flash":
        return factories.flash_session(name=name)
    return factories.group_buy(name=name)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("table", ["coupons", "flash", "groups"])
def test_hostile_campaign_names_are_escaped(
    console_as: Callable[..., Client], table: str, fmt: str
) -> None:
    # given campaigns named with what a spreadsheet would run
    for value in HOSTILE:
        make(table, value)
    client = console_as("ops_manager")
    read = xlsx_rows if fmt == "xlsx" else csv_rows
    # when the results table is exported
    rows = read(client.get(RESULTS, {"table": table, "fmt": fmt}))
    # then every name is text behind an apostrophe
    expected = (HOSTILE_XLSX if fmt == "xlsx" else HOSTILE).values()
    assert sorted(column(rows, NAME)) == sorted(expected)
    # and the export is audited
    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS, actor=client.operator)  # type: ignore[attr-defined]
    # (with the period it covers: the last 30 days when none is chosen)
    today = local_date()
    assert entry.additional_data == {
        "export": fmt,
        "table": table,
        "rows": len(HOSTILE),
        "start": (today - timedelta(days=29)).isoformat(),
        "end": today.isoformat(),
    }


def test_figures_stay_numbers_in_xlsx(console_as: Callable[..., Client]) -> None:
    factories.coupon_template(name="-10 元券", issued_count=3)
    rows = xlsx_rows(console_as("ops_manager").get(RESULTS, {"table": "coupons", "fmt": "xlsx"}))
    assert column(rows, NAME) == ["'-10 元券"]
    assert column(rows, ISSUED) == [3]
    assert rows[1][6:8] == [0, 0]  # GMV and cost, in yuan, numbers
