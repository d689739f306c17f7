"""Management API tokens: scope, expiry, revocation, owner status."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from miniops.accounts import services
from miniops.accounts.models import ApiToken, Role
from miniops.core.errors import Forbidden, InvalidInput
from miniops.testing import factories

pytestmark = pytest.mark.django_db


def call(client: Client, raw: str, path: str = "/api/v1/manage/me") -> int:
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code


def test_token_is_shown_once_and_stored_hashed(client: Client) -> None:
    operator = factories.operator_with_role("tech_staff")
    token, raw = services.create_api_token(
        operator=operator,
        name="erp sync",
        permissions=["audit.view"],
        expires_in_days=30,
        actor=operator,
    )
    row = ApiToken.objects.get(pk=token.pk)
    secret = raw.rsplit("_", 1)[1]
    assert secret not in row.secret_hash
    assert raw.startswith(f"mo_{row.prefix}_")
    body = client.get("/api/v1/manage/me", HTTP_AUTHORIZATION=f"Bearer {raw}").json()
    assert body["permissions"] == ["audit.view"]
    assert body["username"] == operator.username


def test_scope_cannot_exceed_the_owner(client: Client) -> None:
    analyst = factories.operator_with_role("analyst")
    with pytest.raises(Forbidden):
        services.create_api_token(
            operator=analyst, name="x", permissions=["audit.view"], expires_in_days=1, actor=analyst
        )
    with pytest.raises(InvalidInput):
        services.create_api_token(
            operator=analyst, name="x", permissions=["no.such"], expires_in_days=1, actor=analyst
        )
    for days in (0, -1, 367, True):
        with pytest.raises(InvalidInput):
            services.create_api_token(
                operator=analyst,
                name="x",
                permissions=["dashboard.view"],
                expires_in_days=days,
                actor=analyst,
            )
    assert not ApiToken.objects.exists()


def test_operators_without_the_permission_cannot_create_tokens() -> None:
    staff = factories.operator_with_role("customer_service")
    with pytest.raises(Forbidden):
        services.create_api_token(
            operator=staff, name="x", permissions=["dashboard.view"], expires_in_days=1, actor=staff
        )


def test_nobody_creates_a_token_for_someone_else() -> None:
    admin = factories.operator_with_role("super_admin")
    tech = factories.operator_with_role("tech_staff")
    with pytest.raises(Forbidden):
        services.create_api_token(
            operator=tech, name="x", permissions=["audit.view"], expires_in_days=1, actor=admin
        )


def test_scope_limits_what_the_token_may_call(client: Client) -> None:
    tech = factories.operator_with_role("tech_staff")
    _, raw = factories.api_token(tech, ["audit.view"])
    assert call(client, raw, "/api/v1/manage/audit") == 200
    assert call(client, raw, "/api/v1/manage/settings") == 403


def test_revoked_token_is_refused_at_once(client: Client) -> None:
    tech = factories.operator_with_role("tech_staff")
    token, raw = factories.api_token(tech)
    assert call(client, raw) == 200
    services.revoke_api_token(token=token, actor=tech)
    assert call(client, raw) == 401


def test_expired_token_is_refused(client: Client) -> None:
    tech = factories.operator_with_role("tech_staff")
    token, raw = factories.api_token(tech)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert call(client, raw) == 401


def test_disabled_owner_makes_the_token_useless(client: Client) -> None:
    admin = factories.operator_with_role("super_admin")
    tech = factories.operator_with_role("tech_staff")
    _, raw = factories.api_token(tech)
    services.disable_operator(operator=tech, actor=admin)
    assert call(client, raw) == 401


def test_a_permission_lost_by_the_owner_is_lost_by_the_token(client: Client) -> None:
    admin = factories.operator_with_role("super_admin")
    tech = factories.operator_with_role("tech_staff")
    _, raw = factories.api_token(tech, ["audit.view", "system.manage_settings"])
    assert call(client, raw, "/api/v1/manage/settings") == 200
    services.set_operator_roles(
        operator=tech, roles=[Role.objects.get(code="analyst")], actor=admin
    )
    assert call(client, raw, "/api/v1/manage/settings") == 403
    assert call(client, raw, "/api/v1/manage/audit") == 403


def test_a_tampered_secret_is_refused(client: Client) -> None:
    tech = factories.operator_with_role("tech_staff")
    _, raw = factories.api_token(tech)
    tampered = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    assert call(client, tampered) == 401


def test_last_use_is_recorded(client: Client) -> None:
    tech = factories.operator_with_role("tech_staff")
    token, raw = factories.api_token(tech)
    call(client, raw)
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert token.last_used_ip == "127.0.0.1"


def test_token_created_in_the_console_is_shown_once(console_as: object) -> None:
    client = console_as("tech_staff")  # type: ignore[operator]
    response = client.post(
        "/console/accounts/apitoken/add/",
        {"name": "bi export", "expires_in_days": 30, "permissions": ["audit.view"]},
    )
    assert response.status_code == 200
    assert b'id="new-token"' in response.content
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(name="bi export")
    page = client.get(f"/console/accounts/apitoken/{token.pk}/change/")
    assert page.status_code == 200
    assert token.secret_hash.encode() not in page.content


def test_console_token_form_refuses_permissions_outside_the_owner(console_as: object) -> None:
    client = console_as("analyst")  # type: ignore[operator]
    response = client.post(
        "/console/accounts/apitoken/add/",
        {"name": "sneaky", "expires_in_days": 30, "permissions": ["audit.view"]},
    )
    assert response.status_code == 400
    assert not ApiToken.objects.exists()
