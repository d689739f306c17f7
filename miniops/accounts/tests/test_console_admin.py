"""Console pages for operators, roles and settings: forms call the services,
refusals show on the form, bad input answers 400 and writes nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from miniops.accounts.models import Operator, Role
from miniops.core.models import SystemSettings
from miniops.core.permissions import PERMISSIONS
from miniops.testing import factories

pytestmark = pytest.mark.django_db


def test_super_admin_creates_a_custom_role_from_the_console(console_as: Any) -> None:
    client = console_as("super_admin")
    response = client.post(
        "/console/accounts/role/add/",
        {
            "code": "night-shift",
            "name": "Night shift",
            "description": "after-hours support",
            "permissions": ["dashboard.view", "audit.view"],
        },
    )
    assert response.status_code == 302
    role = Role.objects.get(code="night-shift")
    assert role.effective_permissions() == {"dashboard.view", "audit.view"}
    matrix = client.get("/console/accounts/permission-matrix/").content.decode()
    assert 'data-role="night-shift"' in matrix


def test_a_whole_permission_group_ticked_once_grants_each_of_its_permissions(
    console_as: Any,
) -> None:
    client = console_as("super_admin")
    response = client.post(
        "/console/accounts/role/add/",
        {
            "code": "stock-keeper",
            "name": "Stock keeper",
            "permission_groups": ["Catalog"],
            "permissions": ["dashboard.view"],
            "_addoperator": "1",
        },
    )
    role = Role.objects.get(code="stock-keeper")
    catalog = {code for code in PERMISSIONS if code.startswith("catalog.")}
    assert role.effective_permissions() == catalog | {"dashboard.view"}
    # “Save and add an operator with this role” opens the operator form, role ticked
    assert response.status_code == 302
    assert response["Location"] == f"/console/accounts/operator/add/?roles={role.pk}"
    form = client.get(response["Location"]).content.decode()
    ticked = re.findall(r'<input[^>]*name="roles"[^>]*value="(\d+)"[^>]*checked', form)
    assert ticked == [str(role.pk)]


def test_an_unknown_permission_group_is_refused(console_as: Any) -> None:
    client = console_as("super_admin")
    response = client.post(
        "/console/accounts/role/add/",
        {"code": "odd", "name": "Odd", "permission_groups": ["Everything"]},
    )
    assert response.status_code == 400
    assert not Role.objects.filter(code="odd").exists()


def test_unknown_permission_in_the_role_form_is_refused(console_as: Any) -> None:
    client = console_as("super_admin")
    response = client.post(
        "/console/accounts/role/add/",
        {"code": "bad", "name": "Bad", "permissions": ["root.everything"]},
    )
    assert response.status_code == 400
    assert not Role.objects.filter(code="bad").exists()


def test_creating_an_operator_through_the_console(console_as: Any) -> None:
    client = console_as("super_admin")
    cs = Role.objects.get(code="customer_service")
    response = client.post(
        "/console/accounts/operator/add/",
        {
            "username": "xiaoli",
            "display_name": "小李",
            "email": "",
            "language": "",
            "roles": [cs.pk],
            "password1": "Long-enough-pass-1",
            "password2": "Long-enough-pass-1",
            "sessions-TOTAL_FORMS": "0",
            "sessions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    created = Operator.objects.get(username="xiaoli")
    assert created.check_password("Long-enough-pass-1")
    assert created.has_permission("dashboard.view")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "nul\x00name"),
        ("username", "x" * 1_000_000),
        ("username", ""),
        ("password2", "different-pass-99"),
        ("email", "not-an-email"),
    ],
)
def test_bad_operator_input_is_refused_with_400(console_as: Any, field: str, value: str) -> None:
    client = console_as("super_admin")
    data = {
        "username": "someone",
        "display_name": "",
        "email": "",
        "language": "",
        "password1": "Long-enough-pass-1",
        "password2": "Long-enough-pass-1",
        "sessions-TOTAL_FORMS": "0",
        "sessions-INITIAL_FORMS": "0",
        field: value,
    }
    before = Operator.objects.count()
    response = client.post("/console/accounts/operator/add/", data)
    assert response.status_code in (400, 413)
    assert Operator.objects.count() == before


def test_escalation_refused_by_the_service_shows_on_the_form(console_as: Any) -> None:
    # given a custom manager who may manage operators but holds little else
    manager_role = factories.RoleFactory(
        code="hr",
        permissions=["accounts.manage_operators", "accounts.view_operators", "dashboard.view"],
    )
    client = console_as(manager_role.code)
    admin_role = Role.objects.get(code="super_admin")
    # when they try to create a super admin
    response = client.post(
        "/console/accounts/operator/add/",
        {
            "username": "sneaky",
            "display_name": "",
            "email": "",
            "language": "",
            "roles": [admin_role.pk],
            "password1": "Long-enough-pass-1",
            "password2": "Long-enough-pass-1",
            "sessions-TOTAL_FORMS": "0",
            "sessions-INITIAL_FORMS": "0",
        },
    )
    # then the form comes back with the reason and nothing is written
    assert response.status_code == 400
    assert (
        "super admin" in response.content.decode().lower()
        or "超级管理员" in response.content.decode()
    )
    assert not Operator.objects.filter(username="sneaky").exists()


def test_disable_action_needs_a_post(console_as: Any) -> None:
    client = console_as("super_admin")
    target = factories.operator_with_role("analyst")
    url = f"/console/accounts/operator/{target.pk}/disable/"
    client.get(url)  # shows the confirmation dialog only
    assert Operator.objects.get(pk=target.pk).is_active
    response = client.post(url, {"_form_submitted": "on", "reason": "left"})
    assert response.status_code == 302
    assert not Operator.objects.get(pk=target.pk).is_active


def test_settings_change_reaches_the_mini_program_config(
    console_as: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = console_as("tech_staff")
    factories.system_settings()
    assert Client().get("/api/v1/config").json()["platform_name"] == "miniops"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/console/core/systemsettings/1/change/",
            {
                "platform_name": "小鹿优选",
                "theme_primary": "#07C160",
                "theme_secondary": "#FA5151",
                "miniprogram_app_id": "wx0123456789abcdef",
                "cs_phone": "400-000-0000",
                "low_stock_threshold": 10,
            },
        )
    assert response.status_code == 302
    config = Client().get("/api/v1/config").json()
    assert config["platform_name"] == "小鹿优选"
    assert config["miniprogram_app_id"] == "wx0123456789abcdef"
    assert config["customer_service"]["phone"] == "400-000-0000"


def test_bad_settings_are_refused_with_400(console_as: Any) -> None:
    client = console_as("tech_staff")
    factories.system_settings()
    response = client.post(
        "/console/core/systemsettings/1/change/",
        {
            "platform_name": "x",
            "theme_primary": "red",
            "theme_secondary": "#FA5151",
            "miniprogram_app_id": "nope",
        },
    )
    assert response.status_code == 400
    assert SystemSettings.objects.get().theme_primary == "#07C160"


def test_createoperator_command(capsys: Any, monkeypatch: Any) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("Long-enough-pass-1\n"))
    call_command(
        "createoperator", "--username", "root2", "--role", "super_admin", "--password-stdin"
    )
    operator = Operator.objects.get(username="root2")
    assert operator.is_super_admin
    assert "two-factor" in capsys.readouterr().out
