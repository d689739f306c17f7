"""Mini-program sign-in, tokens, sessions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from miniops.members import services, tokens
from miniops.members.models import Member, MemberSession
from miniops.testing import factories

pytestmark = pytest.mark.django_db


def login(client: Client, **body: Any) -> Any:
    return client.post("/api/v1/auth/wechat-login", body, content_type="application/json")


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_first_login_creates_the_member_with_their_source(client: Client) -> None:
    referrer = factories.member()
    response = login(
        client, code="alice", scene=1089, channel="xiaohongshu", referrer_id=referrer.pk
    )
    assert response.status_code == 200
    body = response.json()
    assert body["is_new_member"] is True
    member = Member.objects.get(pk=body["member_id"])
    assert member.registration_scene == 1089
    assert member.registration_channel == "xiaohongshu"
    assert member.referrer == referrer
    # and the same code again is the same person, not a new member
    again = login(client, code="alice").json()
    assert again["member_id"] == member.pk
    assert again["is_new_member"] is False


def test_session_key_is_stored_encrypted_and_never_returned(client: Client) -> None:
    response = login(client, code="bob")
    member = Member.objects.get(pk=response.json()["member_id"])
    assert member.session_key  # decrypted through the field
    with connection.cursor() as cursor:
        cursor.execute("SELECT session_key FROM members_member WHERE id = %s", [member.pk])
        stored = cursor.fetchone()[0]
    assert stored != member.session_key
    assert stored.startswith("gAAAA")  # a Fernet token
    assert member.session_key not in response.content.decode()
    me = client.get("/api/v1/me", **bearer(response.json()["access_token"]))
    assert "session_key" not in me.content.decode()


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("invalid", 400, "invalid_code"),
        ("used", 400, "invalid_code"),
        ("ratelimited", 429, "throttled"),
        ("risky", 403, "risky_user"),
        ("busy", 503, "platform_busy"),
        ("timeout", 503, "platform_busy"),
    ],
)
def test_platform_errors_map_to_clear_answers(
    client: Client, code: str, status: int, error: str
) -> None:
    response = login(client, code=code)
    assert response.status_code == status
    assert response.json()["error"]["code"] == error
    if status in (429, 503):
        assert int(response["Retry-After"]) >= 1
    assert not Member.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": ""},
        {"code": 123},
        {"code": "x" * 129},
        {"code": "a", "scene": "abc"},
        {"code": "a", "scene": 99},
        {"code": "a", "scene": 2**31},
        {"code": "a", "referrer_id": -1},
        {"code": "a", "channel": "c" * 65},
        {"code": "a", "scene": 1.5},
    ],
)
def test_bad_login_input_is_422_and_creates_nothing(client: Client, body: dict[str, Any]) -> None:
    response = login(client, **body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert not Member.objects.exists()


def test_unknown_referrer_is_ignored_not_an_error(client: Client) -> None:
    response = login(client, code="carol", referrer_id=999_999)
    assert response.status_code == 200
    assert Member.objects.get().referrer is None


def test_access_token_opens_member_endpoints(client: Client) -> None:
    body = login(client, code="dave").json()
    assert client.get("/api/v1/me", **bearer(body["access_token"])).status_code == 200
    assert client.get("/api/v1/me").status_code == 401
    tampered = body["access_token"][:-2] + (
        "AA" if not body["access_token"].endswith("AA") else "BB"
    )
    assert client.get("/api/v1/me", **bearer(tampered)).status_code == 401


def test_expired_access_token_is_refused() -> None:
    member = factories.member()
    session = MemberSession.objects.create(
        member=member, refresh_hash="x", expires_at=timezone.now() + timedelta(days=1)
    )
    old, _ = tokens.make_access(member.pk, session.pk, now=timezone.now().timestamp() - 3 * 3600)
    assert Client().get("/api/v1/me", **bearer(old)).status_code == 401


def test_refresh_rotates_and_detects_reuse(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    first = login(client, code="erin").json()
    second = client.post(
        "/api/v1/auth/refresh",
        {"refresh_token": first["refresh_token"]},
        content_type="application/json",
    )
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert client.get("/api/v1/me", **bearer(rotated["access_token"])).status_code == 200
    # the old refresh token, presented again, is treated as stolen: the session ends
    with django_capture_on_commit_callbacks(execute=True):
        reuse = client.post(
            "/api/v1/auth/refresh",
            {"refresh_token": first["refresh_token"]},
            content_type="application/json",
        )
    assert reuse.status_code == 401
    assert client.get("/api/v1/me", **bearer(rotated["access_token"])).status_code == 401
    latest = client.post(
        "/api/v1/auth/refresh",
        {"refresh_token": rotated["refresh_token"]},
        content_type="application/json",
    )
    assert latest.status_code == 401


@pytest.mark.parametrize(
    "token", ["", "garbage", "mr1.nothex.secret", "mr1." + "0" * 32 + ".x", "ma1.a.b"]
)
def test_bad_refresh_tokens_are_refused(client: Client, token: str) -> None:
    response = client.post(
        "/api/v1/auth/refresh", {"refresh_token": token}, content_type="application/json"
    )
    assert response.status_code in (401, 422)


def test_logout_revokes_the_session(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    body = login(client, code="frank").json()
    access = body["access_token"]
    assert (
        client.get("/api/v1/me", **bearer(access)).status_code == 200
    )  # session now cached as open
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/api/v1/auth/logout", **bearer(access)).status_code == 204
    assert client.get("/api/v1/me", **bearer(access)).status_code == 401
    refreshed = client.post(
        "/api/v1/auth/refresh",
        {"refresh_token": body["refresh_token"]},
        content_type="application/json",
    )
    assert refreshed.status_code == 401


def test_blocking_signs_the_member_out_and_refuses_login(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    body = login(client, code="gina").json()
    access = body["access_token"]
    assert client.get("/api/v1/me", **bearer(access)).status_code == 200
    member = Member.objects.get(pk=body["member_id"])
    admin = factories.operator_with_role("super_admin")
    with django_capture_on_commit_callbacks(execute=True):
        services.block_member(member=member, actor=admin, reason="fraud")
    assert client.get("/api/v1/me", **bearer(access)).status_code == 401
    again = login(client, code="gina")
    assert again.status_code == 403
    assert again.json()["error"]["code"] == "member_blocked"
    refresh = client.post(
        "/api/v1/auth/refresh",
        {"refresh_token": body["refresh_token"]},
        content_type="application/json",
    )
    assert refresh.status_code in (401, 403)
    services.unblock_member(member=member, actor=admin)
    assert login(client, code="gina").status_code == 200


def test_block_transitions_are_explicit() -> None:
    admin = factories.operator_with_role("super_admin")
    member = factories.member()
    from miniops.core.errors import IllegalTransition, InvalidInput

    with pytest.raises(InvalidInput):
        services.block_member(member=member, actor=admin, reason="  ")
    services.block_member(member=member, actor=admin, reason="spam")
    with pytest.raises(IllegalTransition):
        services.block_member(member=member, actor=admin, reason="again")
    services.unblock_member(member=member, actor=admin)
    with pytest.raises(IllegalTransition):
        services.unblock_member(member=member, actor=admin)
