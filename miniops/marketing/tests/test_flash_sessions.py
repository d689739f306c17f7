"""Setting up flash sales through ``flash_sessions``: the rules the console's
forms used to hold alone (price below the SKU's, limits, time to pay, stock not
below what is sold), now the service's; every change audited with the operator;
the Redis gate rebuilt only after the transaction commits. Runs on SQLite and on
PostgreSQL + Redis."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client
from django.utils import timezone

from miniops.catalog.models import Sku
from miniops.core.errors import Conflict, Forbidden, IllegalTransition, InvalidInput
from miniops.core.redis import get_redis
from miniops.marketing.models import FlashItem, FlashSession
from miniops.marketing.services import flash, flash_sessions
from miniops.marketing.services.flash_sessions import ItemIn
from miniops.marketing.tests.helpers import buyer, flash_buy, flash_item, sku_of
from miniops.testing import factories

pytestmark = pytest.mark.django_db

gated = pytest.mark.skipif(not settings.REDIS_URL, reason="the Redis gate needs REDIS_URL")
ConsoleAs = Callable[..., Client]
BASE = "/console/marketing/flashsession"


def gate_left(item_id: int) -> int | None:
    client = get_redis()
    if client is None:
        return None
    value = client.get(flash._keys(item_id)[0])
    return None if value is None else int(value)


def rows(model: type[Any], pk: Any) -> list[LogEntry]:
    return list(
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(model), object_pk=str(pk)
        ).order_by("pk")
    )


def local_fields(name: str, moment: Any) -> dict[str, str]:
    local = timezone.localtime(moment)
    return {f"{name}_0": local.strftime("%Y-%m-%d"), f"{name}_1": local.strftime("%H:%M:%S")}


def window(starts_in: int = 60, hours: int = 2) -> dict[str, Any]:
    start = timezone.now() + timedelta(minutes=starts_in)
    return {"starts_at": start, "ends_at": start + timedelta(hours=hours)}


def manager() -> Any:
    return factories.operator_with_role("ops_manager")


def new_sale(sku: Sku, *, stock: int = 10, starts_in: int = 60, **fields: Any) -> FlashSession:
    return flash_sessions.create_session(
        actor=None,
        name=fields.pop("name", "整点秒杀"),
        pay_minutes=fields.pop("pay_minutes", 5),
        items=[ItemIn(sku=sku, flash_price=990, stock=stock, per_member_limit=2)],
        **window(starts_in),
        **fields,
    )


def as_input(item: FlashItem, **changes: Any) -> ItemIn:
    data = {
        "id": item.pk,
        "sku": item.sku,
        "flash_price": item.flash_price,
        "stock": item.stock,
        "per_member_limit": item.per_member_limit,
    }
    data.update(changes)
    return ItemIn(**data)


def update(session: FlashSession, *, actor: Any = None, **changes: Any) -> FlashSession:
    fields = {
        "name": session.name,
        "starts_at": session.starts_at,
        "ends_at": session.ends_at,
        "pay_minutes": session.pay_minutes,
    }
    fields.update(changes)
    return flash_sessions.update_session(session=session, actor=actor, **fields)


# --- the console -----------------------------------------------------------------------------
def sale_form(sku: Sku, **overrides: str) -> dict[str, str]:
    now = timezone.now()
    data = {
        "name": "整点秒杀",
        **local_fields("starts_at", now + timedelta(hours=1)),
        **local_fields("ends_at", now + timedelta(hours=2)),
        "pay_minutes": "5",
        "items-TOTAL_FORMS": "1",
        "items-INITIAL_FORMS": "0",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "1000",
        "items-0-sku": str(sku.pk),
        "items-0-flash_price": "9.90",
        "items-0-stock": "10",
        "items-0-per_member_limit": "1",
    }
    data.update(overrides)
    return data


def test_adding_a_sale_in_the_console_is_audited_and_loads_the_gate_after_commit(
    console_as: ConsoleAs, django_capture_on_commit_callbacks: Any
) -> None:
    # given the operations manager and a SKU at 50.00
    client = console_as("ops_manager")
    sku = sku_of(price=5000)
    # when they add a sale with one item
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{BASE}/add/", sale_form(sku))
    # then the sale and its item are saved, each with a creation row naming them
    assert response.status_code == 302, response.content[:2000]
    session = FlashSession.objects.get()
    item = session.items.get()
    assert (item.sku_id, item.flash_price, item.stock) == (sku.pk, 990, 10)
    for model, pk in ((FlashSession, session.pk), (FlashItem, item.pk)):
        (row,) = rows(model, pk)
        assert (row.action, row.actor_id) == (LogEntry.Action.CREATE, client.operator.pk)
    # and the gate holds the item's stock (with Redis)
    if get_redis() is not None:
        assert gate_left(item.pk) == 10


def test_changing_a_running_sale_in_the_console_is_audited_and_rebuilds_the_gate(
    console_as: ConsoleAs, django_capture_on_commit_callbacks: Any
) -> None:
    # given a running sale of 10 units, 1 sold through the API
    item = flash_item(stock=10)
    flash.reset_gate(item.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert flash_buy(buyer(), item).status_code == 201
    session = item.session
    client = console_as("ops_staff")
    # when the stock is raised to 20 and the limit to 3 on the sale's page
    data = sale_form(
        item.sku,
        **local_fields("starts_at", session.starts_at),
        **local_fields("ends_at", session.ends_at),
        **{
            "items-INITIAL_FORMS": "1",
            "items-0-id": str(item.pk),
            "items-0-session": str(session.pk),
            "items-0-stock": "20",
            "items-0-per_member_limit": "3",
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{BASE}/{session.pk}/change/", data)
    # then the item changed, what was sold stays sold, and the change row names the operator
    assert response.status_code == 302, (
        response.context["adminform"].form.errors,
        [f.formset.errors for f in response.context["inline_admin_formsets"]],
    )
    item.refresh_from_db()
    assert (item.stock, item.per_member_limit, item.sold) == (20, 3, 1)
    (change,) = [r for r in rows(FlashItem, item.pk) if r.actor_id == client.operator.pk]
    assert change.action == LogEntry.Action.UPDATE
    assert change.changes_dict["stock"] == [10, 20]
    assert "sold" not in change.changes_dict
    # and the gate has the 19 units left (with Redis)
    if get_redis() is not None:
        assert gate_left(item.pk) == 19


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"items-0-flash_price": "50.00"}, "flash_price"),
        ({"items-0-flash_price": "0"}, "flash_price"),
        ({"items-0-per_member_limit": "0"}, "per_member_limit"),
        ({"items-0-per_member_limit": "100"}, "per_member_limit"),
        ({"items-0-stock": "0"}, "stock"),
    ],
)
def test_the_services_rules_are_shown_on_the_item_fields(
    console_as: ConsoleAs, overrides: dict[str, str], field: str
) -> None:
    client = console_as("ops_manager")
    response = client.post(f"{BASE}/add/", sale_form(sku_of(price=5000), **overrides))
    assert response.status_code == 400
    (formset,) = [f for f in response.context["inline_admin_formsets"]]
    assert field in formset.formset.forms[0].errors
    assert not FlashSession.objects.exists()


def test_a_refusal_of_the_service_is_shown_on_the_form(console_as: ConsoleAs) -> None:
    # given a running sale
    item = flash_item()
    session = item.session
    client = console_as("ops_manager")
    # when its start is moved on the page
    data = sale_form(
        item.sku,
        **local_fields("starts_at", session.starts_at + timedelta(minutes=3)),
        **local_fields("ends_at", session.ends_at),
        **{"items-INITIAL_FORMS": "1", "items-0-id": str(item.pk)},
    )
    response = client.post(f"{BASE}/{session.pk}/change/", data)
    # then the form says why, and nothing moved
    assert response.status_code == 400
    assert "starts_at" in response.context["adminform"].form.errors
    assert FlashSession.objects.get().starts_at == session.starts_at


def test_a_sale_is_deleted_through_the_service(console_as: ConsoleAs) -> None:
    # given an upcoming sale that sold nothing, and a running one
    upcoming = new_sale(sku_of(), starts_in=60)
    running = flash_item().session
    client = console_as("ops_manager")
    # when both are deleted from their pages
    assert client.post(f"{BASE}/{upcoming.pk}/delete/", {"post": "yes"}).status_code == 302
    assert client.post(f"{BASE}/{running.pk}/delete/", {"post": "yes"}).status_code == 302
    # then the upcoming one is gone with its deletion row; the running one stays
    assert list(FlashSession.objects.all()) == [running]
    (deleted,) = [r for r in rows(FlashSession, upcoming.pk) if r.action == LogEntry.Action.DELETE]
    assert deleted.actor_id == client.operator.pk
    # and a bulk delete runs the service for each row: one refusal undoes them all
    another = new_sale(sku_of(), starts_in=90)
    chosen = {"action": "delete_selected", "_selected_action": [another.pk, running.pk]}
    client.post(f"{BASE}/", {**chosen, "post": "yes"})
    assert set(FlashSession.objects.all()) == {another, running}
    client.post(f"{BASE}/", {**chosen, "_selected_action": [another.pk], "post": "yes"})
    assert list(FlashSession.objects.all()) == [running]


# --- the rules -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"flash_price": 5000}, "items.0.flash_price"),
        ({"flash_price": 0}, "items.0.flash_price"),
        ({"flash_price": True}, "items.0.flash_price"),
        ({"stock": 0}, "items.0.stock"),
        ({"stock": 10_000_001}, "items.0.stock"),
        ({"per_member_limit": 0}, "items.0.per_member_limit"),
        ({"per_member_limit": 100}, "items.0.per_member_limit"),
    ],
    ids=repr,
)
def test_creating_refuses_a_bad_item(item: dict[str, Any], field: str) -> None:
    sku = sku_of(price=5000)
    data = {"sku": sku, "flash_price": 990, "stock": 10, "per_member_limit": 1, **item}
    with pytest.raises(InvalidInput) as refused:
        flash_sessions.create_session(actor=None, name="秒杀", items=[ItemIn(**data)], **window())
    assert field in refused.value.fields
    assert "1" in str(refused.value.message)  # "Item 1: ..."
    assert not FlashSession.objects.exists()
    assert not LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(FlashSession)
    ).exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": " "}, "name"),
        ({"pay_minutes": 0}, "pay_minutes"),
        ({"pay_minutes": 61}, "pay_minutes"),
        ({"ends_at": "later"}, "ends_at"),
        ({"starts_in_hours": 0, "ends_in_hours": -1}, "ends_at"),  # before the start
        ({"starts_in_hours": -3, "ends_in_hours": -1}, "ends_at"),  # in the past
    ],
    ids=repr,
)
def test_creating_refuses_a_bad_session(fields: dict[str, Any], field: str) -> None:
    now = timezone.now()
    data: dict[str, Any] = {"name": "秒杀", "pay_minutes": 5, **window(), **fields}
    for name in ("starts", "ends"):
        hours = data.pop(f"{name}_in_hours", None)
        if hours is not None:
            data[f"{name}_at"] = now + timedelta(hours=hours)
    with pytest.raises(InvalidInput) as refused:
        flash_sessions.create_session(actor=None, **data)
    assert field in refused.value.fields
    assert not FlashSession.objects.exists()


def test_a_sku_appears_once_per_sale_and_must_be_available() -> None:
    sku = sku_of(price=5000)
    twice = [ItemIn(sku=sku, flash_price=990, stock=1), ItemIn(sku=sku, flash_price=980, stock=1)]
    with pytest.raises(InvalidInput) as refused:
        flash_sessions.create_session(actor=None, name="秒杀", items=twice, **window())
    assert "items.1.sku" in refused.value.fields
    Sku.objects.filter(pk=sku.pk).update(is_active=False)
    sku.refresh_from_db()
    with pytest.raises(InvalidInput) as refused:
        flash_sessions.create_session(
            actor=None, name="秒杀", items=[ItemIn(sku=sku, flash_price=990, stock=1)], **window()
        )
    assert "items.0.sku" in refused.value.fields
    assert not FlashSession.objects.exists()


def test_stock_never_goes_below_what_was_sold_meanwhile(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a running sale whose page was read before 3 units sold
    item = flash_item(stock=10, per_member_limit=3)
    flash.reset_gate(item.pk)
    stale = FlashItem.objects.get(pk=item.pk)
    session = FlashSession.objects.get(pk=item.session_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert flash_buy(buyer(), item, quantity=3).status_code == 201
    # when the stock is set below that from the stale page, it is refused
    with pytest.raises(InvalidInput) as refused:
        update(session, items=[as_input(stale, stock=2)])
    assert "items.0.stock" in refused.value.fields
    # and a valid change keeps the sold count the stale page did not know
    update(session, items=[as_input(stale, stock=5, flash_price=900)])
    item.refresh_from_db()
    assert (item.stock, item.sold, item.flash_price) == (5, 3, 900)


def test_a_running_sale_keeps_its_start_and_its_items() -> None:
    # given a running sale
    item = flash_item()
    session = item.session
    # then its start cannot move, its end cannot be set in the past
    with pytest.raises(IllegalTransition):
        update(session, starts_at=session.starts_at - timedelta(minutes=1))
    with pytest.raises(InvalidInput):
        update(session, ends_at=timezone.now() - timedelta(seconds=1))
    # and its items cannot be removed
    with pytest.raises(Conflict):
        update(session, items=[])
    assert FlashItem.objects.filter(pk=item.pk).exists()
    # but its end can be extended, and a new item added
    later = session.ends_at + timedelta(hours=1)
    other = sku_of(price=3000)
    update(
        session,
        ends_at=later,
        items=[as_input(item), ItemIn(sku=other, flash_price=100, stock=5)],
    )
    assert FlashSession.objects.get().ends_at == later
    assert FlashItem.objects.filter(session=session).count() == 2


def test_an_ended_sale_cannot_be_changed() -> None:
    item = flash_item(starts_in_minutes=-300)
    assert item.session.status == "ended"
    with pytest.raises(IllegalTransition):
        update(item.session, name="复活")
    assert FlashSession.objects.get().name != "复活"


def test_an_upcoming_sale_changes_freely_and_every_change_is_audited() -> None:
    # given an upcoming sale with one item
    operator = manager()
    first, second = sku_of(price=5000), sku_of(price=4000)
    session = new_sale(first, starts_in=60)
    item = session.items.get()
    # when its item is swapped for another SKU and the time to pay changed
    update(
        session,
        actor=operator,
        pay_minutes=10,
        items=[ItemIn(sku=second, flash_price=1000, stock=4)],
    )
    # then the old item is gone, the new one there, and each step has its row
    (new_item,) = FlashItem.objects.filter(session=session)
    assert new_item.sku_id == second.pk
    assert FlashSession.objects.get().pay_minutes == 10
    assert [(r.action, r.actor_id) for r in rows(FlashItem, item.pk)][-1] == (
        LogEntry.Action.DELETE,
        operator.pk,
    )
    assert [(r.action, r.actor_id) for r in rows(FlashItem, new_item.pk)] == [
        (LogEntry.Action.CREATE, operator.pk)
    ]
    session_change = rows(FlashSession, session.pk)[-1]
    assert (session_change.actor_id, session_change.changes_dict["pay_minutes"]) == (
        operator.pk,
        [5, 10],
    )


def test_an_item_of_another_sale_is_refused() -> None:
    mine = new_sale(sku_of())
    theirs = new_sale(sku_of()).items.get()
    with pytest.raises(InvalidInput):
        update(mine, items=[as_input(theirs)])
    assert FlashItem.objects.get(pk=theirs.pk).session_id != mine.pk


@pytest.mark.parametrize("role", ["analyst", "finance", "customer_service"])
def test_the_services_refuse_operators_without_marketing_manage(role: str) -> None:
    reader = factories.operator_with_role(role)
    session = new_sale(sku_of())
    with pytest.raises(Forbidden):
        flash_sessions.create_session(actor=reader, name="x", **window())
    with pytest.raises(Forbidden):
        update(session, actor=reader, name="改名")
    with pytest.raises(Forbidden):
        flash_sessions.delete_session(session=session, actor=reader)
    assert list(FlashSession.objects.values_list("name", flat=True)) == ["整点秒杀"]


def test_a_sale_with_orders_cannot_be_deleted(django_capture_on_commit_callbacks: Any) -> None:
    item = flash_item(starts_in_minutes=-5)
    with django_capture_on_commit_callbacks(execute=True):
        assert flash_buy(buyer(), item).status_code == 201
    # even once it has ended
    FlashSession.objects.filter(pk=item.session_id).update(ended_early_at=timezone.now())
    with pytest.raises(Conflict):
        flash_sessions.delete_session(session=item.session, actor=None)
    assert FlashItem.objects.filter(pk=item.pk).exists()


# --- the gate after commit -------------------------------------------------------------------
@gated
def test_the_gate_is_loaded_only_when_the_sale_commits(
    django_capture_on_commit_callbacks: Any,
) -> None:
    sku = sku_of(price=5000)
    # a sale created in a transaction that rolls back never reaches Redis
    rolled_back: list[int] = []

    def then_fail() -> None:
        with transaction.atomic():
            rolled_back.append(new_sale(sku, stock=7).items.get().pk)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        then_fail()
    assert gate_left(rolled_back[0]) is None
    # a committed one does, after the commit
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        session = new_sale(sku, stock=7)
    item_id = session.items.get().pk
    assert gate_left(item_id) is None
    for callback in callbacks:
        callback()
    assert gate_left(item_id) == 7


@gated
def test_a_change_that_keeps_the_stock_leaves_the_running_gate_alone(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a running, loaded gate with 10 units, and the Redis counter moved by hand
    # (what an in-flight purchase would look like to a rebuild)
    item = flash_item(stock=10)
    flash.reset_gate(item.pk)
    client = get_redis()
    assert client is not None
    client.decrby(flash._keys(item.pk)[0], 1)
    # when only the name and price change
    with django_capture_on_commit_callbacks(execute=True):
        update(item.session, name="改名", items=[as_input(item, flash_price=900)])
    # then the gate was not rebuilt
    assert gate_left(item.pk) == 9
    # but a stock change rebuilds it from the database
    with django_capture_on_commit_callbacks(execute=True):
        update(item.session, items=[as_input(item, stock=12)])
    assert gate_left(item.pk) == 12


@gated
def test_removing_an_item_removes_its_gate(django_capture_on_commit_callbacks: Any) -> None:
    session = new_sale(sku_of(), stock=3)
    item = session.items.get()
    flash.reset_gate(item.pk)
    assert gate_left(item.pk) == 3
    with django_capture_on_commit_callbacks(execute=True):
        update(session, items=[])
    assert gate_left(item.pk) is None
