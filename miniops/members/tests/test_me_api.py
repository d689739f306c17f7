"""A member's own profile, phone, addresses, favourites and history."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client

from miniops.core import crypto
from miniops.members.models import MAX_ADDRESSES, Address, BrowsingHistory, Favourite
from miniops.testing import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def me() -> tuple[Any, Client]:
    person = factories.member(nickname="小王")
    access, _ = factories.member_tokens(person)
    return person, Client(HTTP_AUTHORIZATION=f"Bearer {access}")


ADDRESS = {
    "recipient": "张三",
    "phone": "13800138000",
    "province": "广东",
    "city": "深圳",
    "district": "南山区",
    "detail": "科技园路1号",
}


def post(client: Client, path: str, body: Any) -> Any:
    return client.post(path, body, content_type="application/json")


def patch(client: Client, path: str, body: Any) -> Any:
    return client.patch(path, body, content_type="application/json")


def test_profile_read_and_update(me: tuple[Any, Client]) -> None:
    person, client = me
    assert client.get("/api/v1/me").json()["nickname"] == "小王"
    response = patch(
        client,
        "/api/v1/me",
        {"nickname": "新名字", "gender": 2, "birthday": "1995-05-20", "city": "杭州"},
    )
    assert response.status_code == 200
    person.refresh_from_db()
    assert (person.nickname, person.gender, str(person.birthday), person.city) == (
        "新名字",
        2,
        "1995-05-20",
        "杭州",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"gender": 3},
        {"gender": "male"},
        {"birthday": "2999-01-01"},
        {"birthday": "1800-01-01"},
        {"birthday": "not a date"},
        {"nickname": "x" * 33},
        {"avatar_url": "http://insecure.example/a.png"},
        {"nickname": ["a"]},
    ],
)
def test_bad_profile_input_is_refused_and_nothing_changes(
    me: tuple[Any, Client], body: Any
) -> None:
    person, client = me
    response = patch(client, "/api/v1/me", body)
    assert response.status_code in (400, 422)
    assert set(response.json()["error"]) == {"code", "message", "fields"}
    person.refresh_from_db()
    assert person.nickname == "小王"
    assert person.birthday is None


def test_phone_binding_stores_it_encrypted_and_searchable(me: tuple[Any, Client]) -> None:
    person, client = me
    response = post(client, "/api/v1/me/phone", {"code": "phone-code-1"})
    assert response.status_code == 200
    phone = response.json()["phone"]
    assert phone.startswith("139")
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone, phone_index FROM members_member WHERE id = %s", [person.pk])
        stored, index = cursor.fetchone()
    assert phone not in stored
    assert index == crypto.phone_index(phone)
    from miniops.members.selectors import search_members

    assert list(search_members(phone)) == [person]
    assert list(search_members(f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}")) == [person]


@pytest.mark.parametrize(("code", "status"), [("invalid", 400), ("busy", 503), ("risky", 403)])
def test_phone_binding_errors(me: tuple[Any, Client], code: str, status: int) -> None:
    _, client = me
    assert post(client, "/api/v1/me/phone", {"code": code}).status_code == status


def test_address_lifecycle_and_single_default(me: tuple[Any, Client]) -> None:
    _, client = me
    first = post(client, "/api/v1/me/addresses", ADDRESS)
    assert first.status_code == 201
    assert first.json()["is_default"] is True  # the first address becomes the default
    second = post(
        client, "/api/v1/me/addresses", {**ADDRESS, "recipient": "李四", "is_default": True}
    ).json()
    listed = client.get("/api/v1/me/addresses").json()
    assert [a["is_default"] for a in listed] == [True, False]
    assert listed[0]["id"] == second["id"]
    # edit
    edited = patch(
        client,
        f"/api/v1/me/addresses/{first.json()['id']}",
        {"detail": "深南大道2号", "is_default": True},
    )
    assert edited.status_code == 200
    assert Address.objects.get(pk=first.json()["id"]).is_default
    assert not Address.objects.get(pk=second["id"]).is_default
    # deleting the default promotes another
    assert client.delete(f"/api/v1/me/addresses/{first.json()['id']}").status_code == 204
    assert Address.objects.get(pk=second["id"]).is_default


def test_address_data_is_encrypted_at_rest(me: tuple[Any, Client]) -> None:
    _, client = me
    address_id = post(client, "/api/v1/me/addresses", ADDRESS).json()["id"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT recipient, phone, detail FROM members_address WHERE id = %s", [address_id]
        )
        row = cursor.fetchone()
    assert "张三" not in row[0]
    assert "13800138000" not in row[1]
    assert "科技园路" not in row[2]


def test_at_most_twenty_addresses(me: tuple[Any, Client]) -> None:
    _, client = me
    for _ in range(MAX_ADDRESSES):
        assert post(client, "/api/v1/me/addresses", ADDRESS).status_code == 201
    over = post(client, "/api/v1/me/addresses", ADDRESS)
    assert over.status_code == 409
    assert over.json()["error"]["code"] == "address_limit"
    assert Address.objects.count() == MAX_ADDRESSES


@pytest.mark.parametrize(
    "change",
    [
        {"phone": "12345"},
        {"phone": "1380013800x"},
        {"recipient": ""},
        {"detail": "x" * 121},
        {"province": None},
        {"postcode": "abc"},
        {"recipient": "nul\u0000name"},
    ],
)
def test_bad_addresses_are_refused(me: tuple[Any, Client], change: dict[str, Any]) -> None:
    _, client = me
    response = post(client, "/api/v1/me/addresses", {**ADDRESS, **change})
    assert response.status_code in (400, 422)
    assert not Address.objects.exists()


def test_other_members_addresses_are_invisible(me: tuple[Any, Client]) -> None:
    _, client = me
    stranger = factories.member()
    access, _ = factories.member_tokens(stranger)
    theirs = post(
        Client(HTTP_AUTHORIZATION=f"Bearer {access}"), "/api/v1/me/addresses", ADDRESS
    ).json()["id"]
    assert client.get(f"/api/v1/me/addresses/{theirs}").status_code == 404
    assert (
        patch(client, f"/api/v1/me/addresses/{theirs}", {"detail": "mine now"}).status_code == 404
    )
    assert client.delete(f"/api/v1/me/addresses/{theirs}").status_code == 404
    assert Address.objects.get(pk=theirs).detail == ADDRESS["detail"]
    for bad in ("0", "abc", str(2**63), "-1"):
        assert client.get(f"/api/v1/me/addresses/{bad}").status_code in (404, 422)


def test_favourites(me: tuple[Any, Client]) -> None:
    _, client = me
    item = factories.product()
    assert client.put(f"/api/v1/me/favourites/{item.pk}").status_code == 204
    assert client.put(f"/api/v1/me/favourites/{item.pk}").status_code == 204  # idempotent
    assert Favourite.objects.count() == 1
    listed = client.get("/api/v1/me/favourites").json()
    assert listed["count"] == 1
    assert listed["items"][0]["product"]["id"] == item.pk
    assert client.put("/api/v1/me/favourites/999999").status_code == 404
    assert client.delete(f"/api/v1/me/favourites/{item.pk}").status_code == 204
    assert client.delete(f"/api/v1/me/favourites/{item.pk}").status_code == 404


def test_viewing_a_product_records_history(me: tuple[Any, Client]) -> None:
    person, client = me
    first, second = factories.product(), factories.product()
    client.get(f"/api/v1/products/{first.pk}")
    client.get(f"/api/v1/products/{second.pk}")
    client.get(f"/api/v1/products/{first.pk}")
    history = client.get("/api/v1/me/history").json()["items"]
    assert [h["product"]["id"] for h in history] == [first.pk, second.pk]
    assert history[0]["views"] == 2
    # anonymous views record nothing
    Client().get(f"/api/v1/products/{first.pk}")
    assert BrowsingHistory.objects.count() == 2
    assert client.delete("/api/v1/me/history").status_code == 204
    assert not BrowsingHistory.objects.filter(member=person).exists()


def test_history_is_pruned_to_the_most_recent() -> None:
    from miniops.members import services

    person = factories.member()
    items = [factories.product() for _ in range(5)]
    for item in items:
        services.record_view(member_id=person.pk, product_id=item.pk)
    assert services.prune_history(keep=3) == 2
    kept = set(BrowsingHistory.objects.filter(member=person).values_list("product_id", flat=True))
    assert kept == {items[2].pk, items[3].pk, items[4].pk}
