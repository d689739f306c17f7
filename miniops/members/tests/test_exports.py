"""The member export carries no live formula: a nickname or city that a
spreadsheet would run comes out with an apostrophe, in CSV and XLSX, and the
export keeps its audit row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.test import Client

from miniops.members.models import Member
from miniops.testing import factories
from miniops.testing.exports import HOSTILE, HOSTILE_XLSX, column, csv_rows, xlsx_rows

pytestmark = pytest.mark.django_db

LIST = "/console/members/member/"
ID, NICKNAME, CITY = 0, 1, 6


def export(client: Client, fmt: str, members: list[Member]) -> Any:
    return client.post(
        LIST, {"action": f"export_{fmt}", "_selected_action": [str(m.pk) for m in members]}
    )


@pytest.mark.parametrize("role", ["ops_manager", "super_admin"])  # masked and unmasked
def test_hostile_nicknames_come_out_escaped_in_csv_and_xlsx(
    console_as: Callable[..., Client], role: str
) -> None:
    # given members whose nicknames a spreadsheet would run
    people = [factories.member(nickname=value) for value in HOSTILE]
    client = console_as(role)
    # when they are exported both ways
    as_csv = csv_rows(export(client, "csv", people))
    as_xlsx = xlsx_rows(export(client, "xlsx", people))
    # then each nickname is held as text behind an apostrophe
    assert column(as_csv, NICKNAME) == list(HOSTILE.values())
    assert column(as_xlsx, NICKNAME) == list(HOSTILE_XLSX.values())
    # and ids stay numbers in the XLSX
    assert column(as_xlsx, ID) == [p.pk for p in people]
    # and both exports are in the audit log
    entries = LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=client.operator)  # type: ignore[attr-defined]
    assert sorted(e.additional_data["export"] for e in entries) == ["csv", "xlsx"]
    assert {e.additional_data["rows"] for e in entries} == {len(HOSTILE)}


def test_a_nickname_set_through_the_api_is_escaped_in_the_export(
    client: Client, console_as: Callable[..., Client]
) -> None:
    # given a member who names themselves with a formula through the mini-program
    person = factories.member()
    access, _refresh = factories.member_tokens(person)
    answer = client.patch(
        "/api/v1/me",
        {"nickname": '=HYPERLINK("http://x","y")', "city": "@SUM(A1)"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {access}",
    )
    assert answer.status_code == 200, answer.content
    # when operations export the member
    rows = csv_rows(export(console_as("ops_manager"), "csv", [person]))
    # then neither cell runs
    assert column(rows, NICKNAME) == ['\'=HYPERLINK("http://x","y")']
    assert column(rows, CITY) == ["'@SUM(A1)"]
