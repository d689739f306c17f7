"""Personal data: encryption with key rotation, blind index, masking, reveal audit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from auditlog.models import LogEntry
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import Client

from miniops.core import crypto
from miniops.core.masking import mask_address, mask_name, mask_phone
from miniops.members import services
from miniops.members.models import Address, Member
from miniops.testing import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def key_ring(settings: Any) -> Iterator[Any]:
    """Start from one known key; restore the process's ring afterwards."""
    old = Fernet.generate_key().decode()
    settings.MINIOPS_FIELD_KEYS = old
    crypto.reset_keys()
    yield settings
    crypto.reset_keys()


def raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return str(cursor.fetchone()[0])


def test_rotation_reencrypts_everything_and_is_resumable(key_ring: Any) -> None:
    # given rows written under the old key
    person = factories.member(phone="13800138000", real_name="王小明")
    address = Address.objects.create(
        member=person,
        recipient="王小明",
        phone="13800138000",
        province="广东",
        city="广州",
        detail="天河路1号",
    )
    before = raw("members_member", "phone", person.pk)
    # when a new key is put in front of the ring and the command runs
    old = key_ring.MINIOPS_FIELD_KEYS
    new = Fernet.generate_key().decode()
    key_ring.MINIOPS_FIELD_KEYS = f"{new},{old}"
    crypto.reset_keys()
    assert not crypto.is_current(before)
    call_command("reencrypt_pii", "--quiet-bar", "--batch", "1")
    # then every value is under the new key, readable, and readable without the old key
    after = raw("members_member", "phone", person.pk)
    assert after != before
    assert crypto.is_current(after)
    assert crypto.is_current(raw("members_address", "detail", address.pk))
    key_ring.MINIOPS_FIELD_KEYS = new
    crypto.reset_keys()
    fresh = Member.objects.get(pk=person.pk)
    assert (fresh.phone, fresh.real_name) == ("13800138000", "王小明")
    assert Address.objects.get(pk=address.pk).detail == "天河路1号"
    # and running it again changes nothing (safe to rerun after an interruption)
    call_command("reencrypt_pii", "--quiet-bar")
    assert raw("members_member", "phone", person.pk) == after


def test_a_value_no_key_can_open_is_an_error_not_garbage(key_ring: Any) -> None:
    person = factories.member(phone="13800138000")
    key_ring.MINIOPS_FIELD_KEYS = Fernet.generate_key().decode()
    crypto.reset_keys()
    with pytest.raises(crypto.DecryptionError):
        Member.objects.get(pk=person.pk)


def test_encrypted_fields_refuse_equality_lookups() -> None:
    from django.core.exceptions import FieldError

    with pytest.raises(FieldError):
        list(Member.objects.filter(phone="13800138000"))


def test_blind_index_normalises_and_separates_purposes() -> None:
    assert crypto.phone_index("+86 138-0013-8000") == crypto.phone_index("13800138000")
    assert crypto.phone_index("13800138000") != crypto.phone_index("13800138001")
    assert crypto.blind_index("x", purpose="a") != crypto.blind_index("x", purpose="b")


@pytest.mark.parametrize(
    ("value", "masked"),
    [("13812341234", "138****1234"), ("", ""), ("12345", "1****")],
)
def test_phone_masking(value: str, masked: str) -> None:
    assert mask_phone(value) == masked


def test_name_and_address_masking() -> None:
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_address("科技园路1号5栋302室").startswith("科技园路1号")
    assert "302" not in mask_address("科技园路1号5栋302室")


def test_reveal_needs_the_permission_and_is_audited() -> None:
    person = factories.member(phone="13800138000", real_name="王小明")
    analyst = factories.operator_with_role("analyst")
    from miniops.core.errors import Forbidden

    with pytest.raises(Forbidden):
        services.reveal(member=person, actor=analyst)
    service = factories.operator_with_role("customer_service")
    values = services.reveal(member=person, actor=service, fields=["phone", "real_name"])
    assert values == {"phone": "13800138000", "real_name": "王小明"}
    entry = LogEntry.objects.get_for_object(person).get(action=LogEntry.Action.ACCESS)
    assert entry.actor == service
    assert entry.additional_data == {"revealed": ["phone", "real_name"]}


def test_management_api_masks_and_reveals_with_audit(client: Client) -> None:
    person = factories.member(phone="13800138000", real_name="王小明")
    manager = factories.operator_with_role("ops_manager")
    _, manager_token = factories.api_token(manager)
    listed = client.get(
        "/api/v1/manage/members", HTTP_AUTHORIZATION=f"Bearer {manager_token}"
    ).json()
    assert listed["items"][0]["phone"] == "138****8000"
    assert listed["items"][0]["real_name"] == "王**"
    assert "13800138000" not in str(listed)
    reveal_url = f"/api/v1/manage/members/{person.pk}/reveal"
    denied = client.post(
        reveal_url,
        {"fields": ["phone"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {manager_token}",
    )
    assert denied.status_code == 403
    cs = factories.operator_with_role("customer_service")
    _, cs_token = factories.api_token(cs, ["members.view", "members.view_sensitive"])
    shown = client.post(
        reveal_url,
        {"fields": ["phone"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {cs_token}",
    )
    assert shown.json()["phone"] == "13800138000"
    assert LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=cs).count() == 1


def test_management_search_by_exact_phone(client: Client) -> None:
    target = factories.member(phone="13700001111")
    factories.member(phone="13700001112")
    manager = factories.operator_with_role("ops_manager")
    _, token = factories.api_token(manager)
    found = client.get(
        "/api/v1/manage/members?q=137-0000-1111", HTTP_AUTHORIZATION=f"Bearer {token}"
    ).json()
    assert [m["id"] for m in found["items"]] == [target.pk]
