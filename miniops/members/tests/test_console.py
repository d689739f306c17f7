"""Member pages in the console: search, member-360, tags, block, export, reveal."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from auditlog.models import LogEntry
from openpyxl import load_workbook

from miniops.members.models import Member, MemberStatus
from miniops.testing import factories

pytestmark = pytest.mark.django_db


def test_list_shows_masked_phones_and_finds_by_exact_phone(console_as: Any) -> None:
    client = console_as("ops_staff")
    target = factories.member(nickname="阿花", phone="13912345678")
    factories.member(nickname="阿草", phone="13912345679")
    page = client.get("/console/members/member/").content.decode()
    assert "139****5678" in page
    assert "13912345678" not in page
    found = client.get("/console/members/member/?q=13912345678").content.decode()
    assert "阿花" in found
    assert "阿草" not in found
    assert client.get(f"/console/members/member/?q={target.openid}").status_code == 200


def test_member_360_is_masked(console_as: Any) -> None:
    client = console_as("ops_manager")
    person = factories.member(phone="13912345678", real_name="赵六")
    person.addresses.create(
        recipient="赵六", phone="13912345678", province="浙江", city="杭州", detail="文三路99号"
    )
    page = client.get(f"/console/members/member/{person.pk}/change/").content.decode()
    assert 'id="member-360"' in page
    assert "139****5678" in page
    assert "赵*" in page
    assert "13912345678" not in page
    assert "文三路99号" not in page


def test_reveal_shows_and_logs_for_customer_service(console_as: Any) -> None:
    client = console_as("customer_service")
    person = factories.member(phone="13912345678", real_name="赵六")
    url = f"/console/members/member/{person.pk}/reveal/"
    dialog = client.get(url)  # the confirmation dialog reveals nothing
    assert dialog.status_code == 200
    assert "13912345678" not in dialog.content.decode()
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()
    # a POST that is not the dialog's own (no confirmation field) reveals nothing either
    assert "13912345678" not in client.post(url).content.decode()
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()
    page = client.post(url, {"_form_submitted": "on"})
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    assert "13912345678" in page.content.decode()
    assert (
        LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=client.operator).count() == 1
    )


def test_reveal_in_the_dialog_replaces_the_dialog(console_as: Any) -> None:
    client = console_as("customer_service")
    person = factories.member(phone="13912345678")
    page = client.post(
        f"/console/members/member/{person.pk}/reveal/",
        {"_form_submitted": "on"},
        HTTP_HX_REQUEST="true",
    )
    assert page.status_code == 200
    assert (page["HX-Retarget"], page["HX-Reselect"]) == ("#dialog", "#dialog")
    assert 'id="dialog"' in page.content.decode()
    assert "13912345678" in page.content.decode()


def test_reveal_is_refused_without_the_permission(console_as: Any) -> None:
    client = console_as("ops_manager")
    person = factories.member(phone="13912345678")
    response = client.post(
        f"/console/members/member/{person.pk}/reveal/", {"_form_submitted": "on"}
    )
    assert response.status_code == 403
    assert "13912345678" not in response.content.decode()


def test_block_and_unblock_from_the_console(console_as: Any) -> None:
    client = console_as("ops_staff")
    person = factories.member()
    client.post(
        f"/console/members/member/{person.pk}/block/", {"_form_submitted": "on", "reason": "刷单"}
    )
    person.refresh_from_db()
    assert person.status == MemberStatus.BLOCKED
    assert person.blocked_reason == "刷单"
    client.post(f"/console/members/member/{person.pk}/unblock/", {"_form_submitted": "on"})
    person.refresh_from_db()
    assert person.status == MemberStatus.ACTIVE
    assert LogEntry.objects.get_for_object(person).filter(actor=client.operator).count() == 2


def test_bulk_tagging(console_as: Any) -> None:
    client = console_as("ops_staff")
    tag = factories.member_tag("高价值")
    people = [factories.member() for _ in range(3)]
    ids = [str(p.pk) for p in people]
    # the first POST shows the tag form
    form = client.post(
        "/console/members/member/", {"action": "tag_selected", "_selected_action": ids}
    )
    assert form.status_code == 200
    assert b"bulk-confirm" in form.content
    assert not Member.objects.filter(tags=tag).exists()
    # confirming without a tag is refused on the form
    empty = client.post(
        "/console/members/member/",
        {"action": "tag_selected", "_selected_action": ids, "_confirmed": "yes"},
    )
    assert empty.status_code == 400
    done = client.post(
        "/console/members/member/",
        {"action": "tag_selected", "_selected_action": ids, "tags": [tag.pk], "_confirmed": "yes"},
    )
    assert done.status_code == 302
    assert set(Member.objects.filter(tags=tag).values_list("pk", flat=True)) == {
        p.pk for p in people
    }
    assert LogEntry.objects.filter(actor=client.operator).count() == 3


def export(client: Any, fmt: str, ids: list[str]) -> Any:
    return client.post(
        "/console/members/member/", {"action": f"export_{fmt}", "_selected_action": ids}
    )


def test_export_is_masked_without_the_sensitive_permission(console_as: Any) -> None:
    client = console_as("ops_manager")  # members.export, not members.view_sensitive
    person = factories.member(phone="13912345678", real_name="赵六")
    response = export(client, "csv", [str(person.pk)])
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 2
    assert "139****5678" in rows[1]
    assert "13912345678" not in text
    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS)
    assert entry.additional_data == {"export": "csv", "rows": 1, "unmasked": False}


def test_export_unmasked_for_super_admin_is_logged(console_as: Any) -> None:
    client = console_as("super_admin")
    person = factories.member(phone="13912345678", real_name="赵六")
    response = export(client, "xlsx", [str(person.pk)])
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [cell.value for cell in list(sheet.rows)[1]]
    assert "13912345678" in values
    assert LogEntry.objects.get(action=LogEntry.Action.ACCESS).additional_data["unmasked"] is True


def test_export_is_refused_without_the_permission(console_as: Any) -> None:
    client = console_as("customer_service")
    person = factories.member()
    response = export(client, "csv", [str(person.pk)])
    assert response.status_code in (200, 302, 403)
    assert response.get("Content-Type", "").startswith("text/html")
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()
