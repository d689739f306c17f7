"""The shared error shape: every bad request gets a 4xx in one JSON shape, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from miniops.testing import factories

pytestmark = pytest.mark.django_db


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert isinstance(body["error"]["fields"], dict)
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.fixture
def settings_token(client: Client) -> str:
    operator = factories.operator_with_role("tech_staff")
    _, raw = factories.api_token(operator, ["system.manage_settings"])
    return raw


def patch_settings(client: Client, token: str, body: bytes | str, **headers: str) -> Any:
    return client.patch(
        "/api/v1/manage/settings",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        **headers,
    )


def test_unknown_api_route_is_404_in_shape(client: Client) -> None:
    assert_error(client.get("/api/v1/no/such/thing"), 404, "not_found")


def test_wrong_method_is_405_in_shape(client: Client) -> None:
    error = client.delete("/api/v1/config")
    assert_error(error, 405, "method_not_allowed")


def test_missing_token_is_401(client: Client) -> None:
    response = client.get("/api/v1/manage/me")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer nonsense",
        "Bearer mo_abc_def",
        "Basic dXNlcjpwYXNz",
        "Bearer " + "x" * 5000,
    ],
)
def test_malformed_tokens_are_401(client: Client, header: str) -> None:
    assert_error(client.get("/api/v1/manage/me", HTTP_AUTHORIZATION=header), 401)


def test_token_without_permission_is_403(client: Client) -> None:
    operator = factories.operator_with_role("analyst")
    _, raw = factories.api_token(operator)
    response = client.get("/api/v1/manage/settings", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert_error(response, 403, "permission_denied")


def test_validation_error_names_the_fields(client: Client, settings_token: str) -> None:
    body = json.dumps({"theme_primary": "green", "platform_name": ""})
    error = assert_error(patch_settings(client, settings_token, body), 422, "validation_error")
    assert set(error["fields"]) == {"theme_primary", "platform_name"}


@pytest.mark.parametrize(
    "body",
    [
        b"{",  # truncated
        b"not json",
        b'{"platform_name": "\\ud800"}',  # lone surrogate
        b'{"platform_name": "\xff\xfe"}',  # invalid UTF-8
        b"[1, 2",
    ],
)
def test_malformed_bodies_are_400(client: Client, settings_token: str, body: bytes) -> None:
    assert_error(patch_settings(client, settings_token, body), 400, "malformed_request")


def test_nul_characters_are_refused_and_nothing_is_written(
    client: Client, settings_token: str
) -> None:
    # given
    before = factories.system_settings().platform_name
    # when
    response = patch_settings(client, settings_token, b'{"platform_name": "evil\\u0000name"}')
    # then
    error = assert_error(response, 400, "malformed_request")
    assert "NUL" in error["message"]
    assert factories.system_settings().platform_name == before


def test_wrong_types_are_422(client: Client, settings_token: str) -> None:
    for body in ({"platform_name": 5}, {"platform_name": ["a"]}, {"cs_phone": {"a": 1}}):
        assert_error(patch_settings(client, settings_token, json.dumps(body)), 422)


def test_oversize_body_is_413(client: Client, settings_token: str) -> None:
    body = json.dumps({"platform_name": "x" * (1024 * 1024 + 10)})
    assert_error(patch_settings(client, settings_token, body), 413, "payload_too_large")


def test_one_megabyte_string_within_body_limit_is_a_field_error(
    client: Client, settings_token: str, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
    body = json.dumps({"platform_name": "长" * (1024 * 1024)}, ensure_ascii=False).encode()
    error = assert_error(patch_settings(client, settings_token, body), 422)
    assert "platform_name" in error["fields"]


def test_nul_in_query_string_is_400(client: Client) -> None:
    assert_error(client.get("/api/v1/config?x=%00"), 400, "malformed_request")


def test_nul_in_console_query_is_400_not_500(client: Client) -> None:
    response = client.get("/console/login/?next=%00")
    assert response.status_code == 400


def test_throttled_requests_get_429_with_retry_after(client: Client, settings: Any) -> None:
    from miniops.api import api

    throttle = api.throttle[0]  # type: ignore[index]
    original = throttle.anon
    throttle.anon = (3, 60)
    try:
        statuses = [client.get("/api/v1/config").status_code for _ in range(5)]
        response = client.get("/api/v1/config")
    finally:
        throttle.anon = original
    assert statuses == [200, 200, 200, 429, 429]
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1


def test_request_id_is_echoed_and_generated(client: Client) -> None:
    given = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert given["X-Request-ID"] == "abc-123"
    generated = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")
    assert len(generated["X-Request-ID"]) == 32


def test_unexpected_exception_is_a_shaped_500_without_details(client: Client) -> None:
    from unittest import mock

    with mock.patch(
        "miniops.core.selectors.public_config", side_effect=RuntimeError("secret detail")
    ):
        response = client.get("/api/v1/config")
    error = assert_error(response, 500, "internal_error")
    assert "secret" not in json.dumps(error)
