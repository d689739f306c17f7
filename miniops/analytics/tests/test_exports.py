"""Analytics exports: an event path, a channel or a UTM source sent by the
mini-program that a spreadsheet would run comes out escaped, in CSV and XLSX;
the reports made of figures keep them as numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.test import Client

from miniops.analytics import lake, rollups
from miniops.analytics.tests.helpers import batch, event, send, today
from miniops.testing.exports import HOSTILE, HOSTILE_XLSX, column, csv_rows, xlsx_rows

pytestmark = pytest.mark.django_db

BASE = "/console/analytics"
Console = Callable[..., Client]


@pytest.fixture
def hostile_events(client: Client) -> None:
    """One visitor per hostile value, sent through the public events API as the
    page path, the channel and the UTM source."""
    for n, value in enumerate(HOSTILE):
        body = batch(
            [event(path=value, channel=value, utm_source=value)], anonymous_id=f"visitor-{n}"
        )
        answer = send(client, body)
        assert answer.status_code == 200, answer.content
        assert answer.json()["accepted"] == 1
    rollups.run()
    lake.export()


def download(client: Client, page: str, fmt: str, **query: Any) -> Any:
    day = today().isoformat()
    response = client.get(f"{BASE}/{page}/", {"fmt": fmt, "first": day, "last": day, **query})
    assert response.status_code == 200, response.content[:500]
    return xlsx_rows(response) if fmt == "xlsx" else csv_rows(response)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_hostile_event_paths_are_escaped_in_the_features_export(
    console_as: Console, hostile_events: None, fmt: str
) -> None:
    rows = download(console_as("analyst"), "features", fmt)
    expected = (HOSTILE_XLSX if fmt == "xlsx" else HOSTILE).values()
    assert sorted(column(rows, 1)) == sorted(expected)  # the page column
    assert set(column(rows, 0)) == {"page_view"}
    if fmt == "xlsx":
        assert set(column(rows, 2)) == {1}  # counts are numbers


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("by", ["channel", "utm_source"])
def test_hostile_sources_are_escaped_in_the_sources_export(
    console_as: Console, hostile_events: None, fmt: str, by: str
) -> None:
    rows = download(console_as("analyst"), "sources", fmt, by=by)
    expected = (HOSTILE_XLSX if fmt == "xlsx" else HOSTILE).values()
    assert sorted(column(rows, 0)) == sorted(expected)
    if fmt == "xlsx":
        assert set(column(rows, 1)) == {1}  # one visitor each, a number


@pytest.mark.parametrize(
    ("page", "query"),
    [
        ("overview", {}),
        ("trends", {"metric": "visitors"}),
        ("retention", {}),
        ("funnels", {"steps": "page_view\npage_view"}),
    ],
)
def test_reports_of_figures_keep_numbers_and_hold_no_formula(
    console_as: Console, hostile_events: None, page: str, query: dict[str, str]
) -> None:
    # (their text cells are labels, dates and step names, never data sent by a client)
    client = console_as("analyst")
    rows = download(client, page, "xlsx", **query)
    figures = [value for row in rows[1:] for value in row[1:] if value not in (None, "")]
    assert figures
    assert all(isinstance(value, int | float) for value in figures), figures
    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS, actor=client.operator)  # type: ignore[attr-defined]
    assert entry.additional_data["rows"] == len(rows) - 1
