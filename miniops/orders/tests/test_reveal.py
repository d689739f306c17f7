"""An order's recipient, phone and street address: masked on the order page for
everyone, shown in full only by the two-step "Show personal data" action (a
confirmation, then a POST that writes an ACCESS audit row with the operator)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from auditlog.models import LogEntry
from django.test import Client

from miniops.core.errors import Forbidden
from miniops.orders import services
from miniops.orders.models import Order
from miniops.testing import factories

pytestmark = pytest.mark.django_db

Console = Callable[..., Client]
FULL = ["张三", "13800138000", "科技园路1号"]


def access_rows(order: Order) -> list[LogEntry]:
    return list(
        LogEntry.objects.get_for_object(order).filter(action=LogEntry.Action.ACCESS).order_by("pk")
    )


def page_of(client: Client, order: Order) -> str:
    response = client.get(f"/console/orders/order/{order.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("role", ["customer_service", "super_admin", "finance", "ops_staff"])
def test_the_order_page_is_masked_for_every_role_and_logs_nothing(
    console_as: Console, role: str
) -> None:
    # given a paid order to 张三, 13800138000, 科技园路1号
    order = factories.order(paid=True)
    client = console_as(role)
    # when any operator, even one allowed to reveal, opens the order
    page = page_of(client, order)
    # then they see masked values only, and no access was recorded
    assert "张*" in page
    assert "138****8000" in page
    for value in FULL:
        assert value not in page
    assert access_rows(order) == []


def test_showing_personal_data_asks_first_then_reveals_and_logs(console_as: Console) -> None:
    # given customer service (members.view_sensitive) on an order
    order = factories.order(paid=True)
    client = console_as("customer_service")
    url = f"/console/orders/order/{order.pk}/reveal/"
    assert "/reveal/" in page_of(client, order)  # the action is offered
    # when they open the action: a confirmation, nothing shown, nothing logged
    asked = client.get(url)
    assert asked.status_code == 200
    for value in FULL:
        assert value not in asked.content.decode()
    assert access_rows(order) == []
    # when they confirm
    shown = client.post(url, {"_form_submitted": "on"}, headers={"HX-Request": "true"})
    # then the full values are shown in place of the dialog, not cached, and one
    # ACCESS row names them
    assert shown.status_code == 200
    body = shown.content.decode()
    assert 'id="dialog"' in body
    assert shown["HX-Retarget"] == "#dialog"
    for value in FULL:
        assert value in body
    assert "no-store" in shown["Cache-Control"]
    (row,) = access_rows(order)
    assert row.actor_id == client.operator.pk
    assert row.additional_data == {"revealed": ["recipient", "phone", "address_detail"]}
    # and the order page stays masked afterwards
    assert "13800138000" not in page_of(client, order)


@pytest.mark.parametrize("role", ["finance", "ops_manager", "analyst"])
def test_roles_without_the_permission_cannot_reveal(console_as: Console, role: str) -> None:
    order = factories.order(paid=True)
    client = console_as(role)
    assert "/reveal/" not in page_of(client, order)
    url = f"/console/orders/order/{order.pk}/reveal/"
    assert client.get(url).status_code == 403
    refused = client.post(url, {"_form_submitted": "on"})
    assert refused.status_code == 403
    assert "13800138000" not in refused.content.decode()
    assert access_rows(order) == []


def test_the_reveal_service_needs_an_operator_with_the_permission() -> None:
    order = factories.order()
    with pytest.raises(Forbidden):
        services.reveal(order=order, actor=factories.operator_with_role("finance"))
    with pytest.raises(Forbidden):
        services.reveal(order=order, actor=None)  # nobody to log: nobody may read
    assert access_rows(order) == []
    reader = factories.operator_with_role("customer_service")
    values = services.reveal(order=order, actor=reader)
    assert values["recipient"] == "张三"
    assert values["phone"] == "13800138000"
    assert values["address"].endswith("科技园路1号")
    assert [row.actor_id for row in access_rows(order)] == [reader.pk]
