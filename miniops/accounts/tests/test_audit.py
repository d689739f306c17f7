"""The audit trail: who, what, when, from where, before/after; append-only."""

from __future__ import annotations

from typing import Any

import pytest
from auditlog.models import LogEntry
from django.db import DatabaseError, connection, transaction
from django.test import Client

from miniops.accounts import services
from miniops.accounts.models import Operator
from miniops.core import audit
from miniops.core.models import SystemSettings
from miniops.testing import factories

pytestmark = pytest.mark.django_db


def entries_for(instance: Any) -> Any:
    return LogEntry.objects.get_for_object(instance).order_by("timestamp", "id")


def test_service_changes_are_recorded_with_the_actor_and_no_secrets() -> None:
    admin = factories.operator_with_role("super_admin")
    created = services.create_operator(
        username="newcs", password="Long-enough-pass-1", roles=[], actor=admin
    )
    entry = entries_for(created).first()
    assert entry.action == LogEntry.Action.CREATE
    assert entry.actor == admin
    assert "username" in entry.changes
    assert "password" not in entry.changes


def test_console_edit_records_who_where_and_before_after(console_as: Any) -> None:
    # given a technical operator in the console
    client = console_as("tech_staff")
    factories.system_settings()
    # when they rename the platform
    response = client.post(
        "/console/core/systemsettings/1/change/",
        {
            "platform_name": "New name",
            "theme_primary": "#112233",
            "theme_secondary": "#445566",
            "low_stock_threshold": 10,
        },
        REMOTE_ADDR="192.0.2.7",
    )
    assert response.status_code == 302
    # then the audit row says who, from where, before and after
    entry = entries_for(SystemSettings.objects.get()).last()
    assert entry.actor == client.operator
    assert entry.remote_addr == "192.0.2.7"
    assert entry.changes["platform_name"] == ["miniops", "New name"]


def test_forged_forwarded_for_does_not_change_the_recorded_address(console_as: Any) -> None:
    client = console_as("tech_staff")
    factories.system_settings()
    client.post(
        "/console/core/systemsettings/1/change/",
        {
            "platform_name": "X",
            "theme_primary": "#112233",
            "theme_secondary": "#445566",
            "low_stock_threshold": 10,
        },
        REMOTE_ADDR="192.0.2.8",
        HTTP_X_FORWARDED_FOR="6.6.6.6",
    )
    assert entries_for(SystemSettings.objects.get()).last().remote_addr == "192.0.2.8"


def test_role_changes_and_disabling_are_recorded() -> None:
    admin = factories.operator_with_role("super_admin")
    target = factories.operator_with_role("analyst")
    services.disable_operator(operator=target, actor=admin, reason="contract ended")
    changes = [e.changes for e in entries_for(target) if e.actor_id == admin.pk]
    assert any("is_active" in c for c in changes)
    assert any(c.get("disabled_reason") == [None, "contract ended"] for c in changes)


def test_bulk_updates_get_explicit_rows() -> None:
    admin = factories.operator_with_role("super_admin")
    ops = [factories.OperatorFactory() for _ in range(3)]
    pks = [op.pk for op in ops]
    Operator.objects.filter(pk__in=pks).update(language="en")
    written = audit.record_bulk(
        actor=admin, model=Operator, pks=pks, changes={"language": ["", "en"]}, reason="bulk"
    )
    assert written == 3
    for op in ops:
        entry = entries_for(op).last()
        assert entry.changes == {"language": ["", "en"]}
        assert entry.additional_data == {"bulk": True, "reason": "bulk"}
        assert entry.actor == admin


def test_audit_rows_cannot_be_updated_in_the_database() -> None:
    entry = factories.audit_entry()
    with pytest.raises(DatabaseError), transaction.atomic():
        LogEntry.objects.filter(pk=entry.pk).update(object_repr="tampered")
    assert LogEntry.objects.get(pk=entry.pk).object_repr == "System settings"


def test_audit_rows_cannot_be_deleted_on_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite blocks updates only (see migration 0003)")
    entry = factories.audit_entry()
    with pytest.raises(DatabaseError), transaction.atomic():
        LogEntry.objects.filter(pk=entry.pk).delete()
    assert LogEntry.objects.filter(pk=entry.pk).exists()


def test_no_console_path_changes_or_deletes_audit_rows(console_as: Any) -> None:
    client: Client = console_as("super_admin")
    entry = factories.audit_entry()
    base = f"/console/auditlog/logentry/{entry.pk}"
    assert client.get(f"{base}/change/").status_code == 200
    assert client.post(f"{base}/change/", {"object_repr": "x"}).status_code == 403
    assert client.post(f"{base}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/console/auditlog/logentry/add/").status_code == 403
    bulk = client.post(
        "/console/auditlog/logentry/",
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )
    assert bulk.status_code == 403
    assert LogEntry.objects.get(pk=entry.pk).object_repr == "System settings"


def test_audit_log_is_searchable_in_the_console(console_as: Any) -> None:
    client = console_as("tech_staff")
    factories.audit_entry()
    response = client.get("/console/auditlog/logentry/?q=System")
    assert response.status_code == 200
    assert b"System settings" in response.content


def test_audit_is_readable_and_filterable_through_the_api(client: Client) -> None:
    admin = factories.operator_with_role("super_admin")
    services.create_operator(
        username="someone", password="Long-enough-pass-1", roles=[], actor=admin
    )
    tech = factories.operator_with_role("tech_staff")
    _, raw = factories.api_token(tech, ["audit.view"])
    response = client.get(
        f"/api/v1/manage/audit?actor={admin.username}&model=accounts.operator&action=create",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["object_repr"] for item in items] == ["someone"]
    assert items[0]["actor"] == admin.username
    bad = client.get("/api/v1/manage/audit?action=explode", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert bad.status_code == 422


def test_audit_rows_carry_the_request_id(console_as: Any) -> None:
    client = console_as("tech_staff")
    factories.system_settings()
    client.post(
        "/console/core/systemsettings/1/change/",
        {
            "platform_name": "Y",
            "theme_primary": "#112233",
            "theme_secondary": "#445566",
            "low_stock_threshold": 10,
        },
        HTTP_X_REQUEST_ID="req-audit-42",
    )
    assert entries_for(SystemSettings.objects.get()).last().cid == "req-audit-42"
