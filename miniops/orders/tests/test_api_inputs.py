"""Bad input on the order, cart and checkout endpoints: always a 4xx in the shared
error shape, and nothing written (no order, no cart line, stock unchanged)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from miniops.catalog.models import Sku, StockLedger
from miniops.orders import services
from miniops.orders.models import AfterSale, CartItem, Order, OrderStatus, Payment
from miniops.orders.tests.helpers import error_of, member_client, place, post, row, stock_of
from miniops.testing import factories

pytestmark = pytest.mark.django_db

BAD_QUANTITIES = [0, -1, 2**31, 1.5, "1", True, "abc", None, [], {}, "", 1000, 2**64]


@pytest.fixture
def buyer() -> dict[str, Any]:
    person = factories.member()
    sku = factories.product(price=5000, stock=10).skus.get()
    return {
        "member": person,
        "client": member_client(person),
        "address_id": factories.address(person).pk,
        "sku": sku,
    }


def assert_nothing_written(buyer: dict[str, Any]) -> None:
    assert Order.objects.count() == 0
    assert stock_of(buyer["sku"]) == 10
    assert not StockLedger.objects.filter(reason__startswith="order_").exists()


def assert_refused(response: Any, status: int | None = None, code: str | None = None) -> None:
    assert 400 <= response.status_code < 500, response.content
    if status is not None:
        assert response.status_code == status, response.content
    error = error_of(response)
    if code is not None:
        assert error["code"] == code, error


def order_with(buyer: dict[str, Any], **body: Any) -> Any:
    return post(
        buyer["client"],
        "/api/v1/orders",
        {"address_id": buyer["address_id"], **body},
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )


# --- placing an order --------------------------------------------------------------------
@pytest.mark.parametrize("quantity", BAD_QUANTITIES, ids=repr)
def test_a_bad_quantity_is_refused(buyer: dict[str, Any], quantity: Any) -> None:
    # given / when
    response = order_with(buyer, items=[{"sku_id": buyer["sku"].pk, "quantity": quantity}])
    # then
    assert_refused(response)
    assert any("quantity" in field for field in error_of(response)["fields"]), response.content
    assert_nothing_written(buyer)


@pytest.mark.parametrize("sku_id", [0, -1, "abc", "1", True, 2**63, None, 1.5])
def test_a_bad_sku_id_is_refused(buyer: dict[str, Any], sku_id: Any) -> None:
    # given / when
    response = order_with(buyer, items=[{"sku_id": sku_id, "quantity": 1}])
    # then
    assert_refused(response)
    assert_nothing_written(buyer)


@pytest.mark.parametrize(
    "body",
    [{}, {"items": None}, {"items": []}, {"items": "abc"}, {"items": {"sku_id": 1}}],
    ids=["missing", "null", "empty", "string", "object"],
)
def test_missing_or_empty_items_are_refused(buyer: dict[str, Any], body: dict[str, Any]) -> None:
    # given / when
    response = order_with(buyer, **body)
    # then
    assert_refused(response)
    assert "items" in " ".join(error_of(response)["fields"])
    assert_nothing_written(buyer)


def test_the_same_sku_twice_is_refused(buyer: dict[str, Any]) -> None:
    # given / when
    sku_id = buyer["sku"].pk
    response = order_with(
        buyer, items=[{"sku_id": sku_id, "quantity": 1}, {"sku_id": sku_id, "quantity": 2}]
    )
    # then
    assert_refused(response, 400, "invalid_input")
    assert "items.1.sku_id" in error_of(response)["fields"]
    assert_nothing_written(buyer)


@pytest.fixture
def many_skus() -> list[Sku]:
    skus: list[Sku] = []
    for count in (30, 21):  # at most 30 values per specification
        skus += factories.product(price=100, stock=5, skus=count).skus.order_by("id")
    return skus


def test_51_lines_are_refused_and_50_are_accepted(
    buyer: dict[str, Any], many_skus: list[Sku]
) -> None:
    # given 51 distinct SKUs on sale
    items = [{"sku_id": sku.pk, "quantity": 1} for sku in many_skus]
    # when all 51 are ordered
    refused = order_with(buyer, items=items)
    # then
    assert_refused(refused)
    assert Order.objects.count() == 0
    assert {stock_of(sku) for sku in many_skus} == {5}
    # when 50 are ordered
    accepted = order_with(buyer, items=items[:50])
    # then
    assert accepted.status_code == 201, accepted.content
    assert Order.objects.get().items.count() == 50


def test_an_unknown_sku_is_404_and_writes_nothing(buyer: dict[str, Any]) -> None:
    # given an order naming a real SKU and one that does not exist
    items = [
        {"sku_id": buyer["sku"].pk, "quantity": 1},
        {"sku_id": buyer["sku"].pk + 1000, "quantity": 1},
    ]
    # when
    response = order_with(buyer, items=items)
    # then
    assert_refused(response, 404, "not_found")
    assert_nothing_written(buyer)


@pytest.mark.parametrize("status", ["draft", "off_shelf"])
def test_a_sku_not_on_sale_is_409(buyer: dict[str, Any], status: str) -> None:
    # given a product that is not on sale, next to one that is
    hidden = factories.product(status=status, stock=5).skus.get()
    items = [{"sku_id": buyer["sku"].pk, "quantity": 1}, {"sku_id": hidden.pk, "quantity": 1}]
    # when
    response = order_with(buyer, items=items)
    # then
    assert_refused(response, 409, "not_on_sale")
    assert error_of(response)["fields"] == {"sku_id": hidden.pk}
    assert_nothing_written(buyer)
    assert stock_of(hidden) == 5


def test_an_inactive_sku_is_409(buyer: dict[str, Any]) -> None:
    # given a SKU switched off on a product on sale
    Sku.objects.filter(pk=buyer["sku"].pk).update(is_active=False)
    # when
    response = order_with(buyer, items=[{"sku_id": buyer["sku"].pk, "quantity": 1}])
    # then
    assert_refused(response, 409, "not_on_sale")
    assert_nothing_written(buyer)


def test_more_than_the_stock_is_409_and_takes_nothing(buyer: dict[str, Any]) -> None:
    # given two lines, the second larger than its stock
    other = factories.product(stock=1).skus.get()
    items = [{"sku_id": buyer["sku"].pk, "quantity": 3}, {"sku_id": other.pk, "quantity": 2}]
    # when
    response = order_with(buyer, items=items)
    # then all or nothing: the first line's stock is back too
    assert_refused(response, 409, "insufficient_stock")
    assert_nothing_written(buyer)
    assert stock_of(other) == 1


def test_another_members_address_is_404(buyer: dict[str, Any]) -> None:
    # given an address of someone else
    stranger = factories.member()
    address = factories.address(stranger, province="北京")
    # when
    response = post(
        buyer["client"],
        "/api/v1/orders",
        {"items": [{"sku_id": buyer["sku"].pk, "quantity": 1}], "address_id": address.pk},
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    # then
    assert_refused(response, 404, "not_found")
    assert_nothing_written(buyer)


@pytest.mark.parametrize("address_id", [None, 0, -1, "abc", "ADDRESS", 2**63])
def test_a_bad_address_id_is_refused(buyer: dict[str, Any], address_id: Any) -> None:
    # given ("ADDRESS": the member's own address id, as a string)
    if address_id == "ADDRESS":
        address_id = str(buyer["address_id"])
    # when
    response = post(
        buyer["client"],
        "/api/v1/orders",
        {"items": [{"sku_id": buyer["sku"].pk, "quantity": 1}], "address_id": address_id},
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    # then
    assert_refused(response)
    assert_nothing_written(buyer)


@pytest.mark.parametrize(
    ("remark", "status"),
    [("nul\x00inside", 400), ("字" * 201, 422), ("a" * 201, 422), (123, 422)],
    ids=["nul", "201_cjk", "201_ascii", "number"],
)
def test_a_bad_remark_is_refused(buyer: dict[str, Any], remark: Any, status: int) -> None:
    # given / when
    response = order_with(buyer, items=[{"sku_id": buyer["sku"].pk, "quantity": 1}], remark=remark)
    # then
    assert_refused(response, status)
    assert_nothing_written(buyer)


def test_a_remark_of_200_characters_is_kept(buyer: dict[str, Any]) -> None:
    # given / when
    response = order_with(
        buyer, items=[{"sku_id": buyer["sku"].pk, "quantity": 1}], remark="字" * 200
    )
    # then
    assert response.status_code == 201, response.content
    assert Order.objects.get().remark == "字" * 200


@pytest.mark.parametrize("raw", [b"not json", b"[]", b"", b'{"items": [', b'"\\ud800"'], ids=repr)
def test_a_body_that_is_not_a_json_object_is_refused(buyer: dict[str, Any], raw: bytes) -> None:
    # given / when
    response = buyer["client"].post(
        "/api/v1/orders",
        raw,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    # then
    assert_refused(response)
    assert_nothing_written(buyer)


def test_without_a_token_it_is_401(buyer: dict[str, Any]) -> None:
    # given / when
    response = post(
        Client(),
        "/api/v1/orders",
        {"items": [{"sku_id": buyer["sku"].pk, "quantity": 1}], "address_id": 1},
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    # then
    assert_refused(response, 401, "not_authenticated")
    assert_nothing_written(buyer)


# --- checkout preview ---------------------------------------------------------------------------
@pytest.mark.parametrize("quantity", BAD_QUANTITIES, ids=repr)
def test_preview_refuses_bad_quantities(buyer: dict[str, Any], quantity: Any) -> None:
    # given / when
    response = post(
        buyer["client"],
        "/api/v1/checkout/preview",
        {"items": [{"sku_id": buyer["sku"].pk, "quantity": quantity}]},
    )
    # then
    assert_refused(response)


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("empty", 400, "invalid_input"),
        ("duplicate", 400, "invalid_input"),
        ("unknown", 404, "not_found"),
        ("draft", 409, "not_on_sale"),
        ("address", 404, "not_found"),
        ("empty_cart", 400, "invalid_input"),
    ],
)
def test_preview_refuses_what_ordering_refuses(
    buyer: dict[str, Any], case: str, status: int, code: str
) -> None:
    # given
    sku_id = buyer["sku"].pk
    body: dict[str, Any] = {"items": [{"sku_id": sku_id, "quantity": 1}]}
    if case == "empty":
        body = {"items": []}
    elif case == "duplicate":
        body["items"] = body["items"] * 2
    elif case == "unknown":
        body["items"] = [{"sku_id": sku_id + 1000, "quantity": 1}]
    elif case == "draft":
        body["items"] = [{"sku_id": factories.product(status="draft").skus.get().pk, "quantity": 1}]
    elif case == "address":
        body["address_id"] = factories.address(factories.member()).pk
    else:
        body = {"from_cart": True}
    # when
    response = post(buyer["client"], "/api/v1/checkout/preview", body)
    # then
    assert_refused(response, status, code)
    assert_nothing_written(buyer)


# --- the cart -------------------------------------------------------------------------------------
@pytest.mark.parametrize("quantity", [*BAD_QUANTITIES, 100], ids=repr)
def test_adding_a_bad_quantity_to_the_cart_is_refused(buyer: dict[str, Any], quantity: Any) -> None:
    # given / when
    response = post(
        buyer["client"], "/api/v1/cart/items", {"sku_id": buyer["sku"].pk, "quantity": quantity}
    )
    # then
    assert_refused(response)
    assert not CartItem.objects.exists()


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("unknown", 404, "not_found"),
        ("draft", 409, "not_on_sale"),
        ("off_shelf", 409, "not_on_sale"),
        ("too_many", 409, "insufficient_stock"),
    ],
)
def test_adding_an_unavailable_sku_to_the_cart_is_refused(
    buyer: dict[str, Any], case: str, status: int, code: str
) -> None:
    # given
    sku_id, quantity = buyer["sku"].pk, 1
    if case == "unknown":
        sku_id += 1000
    elif case in {"draft", "off_shelf"}:
        sku_id = factories.product(status=case).skus.get().pk
    else:
        quantity = 11
    # when
    response = post(buyer["client"], "/api/v1/cart/items", {"sku_id": sku_id, "quantity": quantity})
    # then
    assert_refused(response, status, code)
    assert not CartItem.objects.exists()


@pytest.mark.parametrize("quantity", [0, -1, 100, 2**31, 1.5, "abc", "1", True], ids=repr)
def test_changing_a_cart_line_to_a_bad_quantity_is_refused(
    buyer: dict[str, Any], quantity: Any
) -> None:
    # given a cart line of 2
    services.cart.add(member=buyer["member"], sku_id=buyer["sku"].pk, quantity=2)
    # when
    response = buyer["client"].patch(
        f"/api/v1/cart/items/{buyer['sku'].pk}",
        {"quantity": quantity},
        content_type="application/json",
    )
    # then
    assert_refused(response)
    assert CartItem.objects.get().quantity == 2


def test_another_members_cart_line_cannot_be_changed_or_removed(buyer: dict[str, Any]) -> None:
    # given a stranger's cart line
    stranger = factories.member()
    services.cart.add(member=stranger, sku_id=buyer["sku"].pk, quantity=2)
    url = f"/api/v1/cart/items/{buyer['sku'].pk}"
    # when
    changed = buyer["client"].patch(url, {"quantity": 5}, content_type="application/json")
    removed = buyer["client"].delete(url)
    # then
    assert_refused(changed, 404, "not_found")
    assert_refused(removed, 404, "not_found")
    assert CartItem.objects.get(member=stranger).quantity == 2


# --- another member's order ---------------------------------------------------------------------
@pytest.fixture
def strangers_order(buyer: dict[str, Any]) -> dict[str, Any]:
    stranger = factories.member()
    unpaid = factories.order(buyer=stranger)
    paid = factories.order(buyer=stranger, paid=True)
    operator = factories.operator_with_role("ops_staff")
    shipped = factories.order(buyer=stranger, paid=True)
    services.ship_order(order=shipped, carrier="SF", tracking_no="SF1234567890", actor=operator)
    return {"unpaid": unpaid, "paid": paid, "shipped": shipped}


@pytest.mark.parametrize(
    ("method", "which", "path"),
    [
        ("get", "paid", "/api/v1/orders/{id}"),
        ("post", "unpaid", "/api/v1/orders/{id}/cancel"),
        ("post", "unpaid", "/api/v1/orders/{id}/pay"),
        ("post", "shipped", "/api/v1/orders/{id}/confirm-receipt"),
        ("post", "paid", "/api/v1/orders/{id}/after-sales"),
        ("post", "unpaid", "/api/v1/payments/simulator/orders/{id}/pay"),
    ],
    ids=["get", "cancel", "pay", "confirm", "after_sale", "simulator_pay"],
)
def test_another_members_order_is_404(
    buyer: dict[str, Any], strangers_order: dict[str, Any], method: str, which: str, path: str
) -> None:
    # given someone else's order
    order = strangers_order[which]
    before = row(Order, order.pk)
    payments = Payment.objects.filter(order=order).count()
    path = path.format(id=order.pk)
    body = {
        "kind": "refund_only",
        "reason": "other",
        "lines": [{"item_id": order.items.get().pk, "quantity": 1}],
    }
    # when
    response = buyer["client"].get(path) if method == "get" else post(buyer["client"], path, body)
    # then it does not exist for this member, and nothing changed
    assert_refused(response, 404, "not_found")
    assert row(Order, order.pk) == before
    assert Payment.objects.filter(order=order).count() == payments
    assert not AfterSale.objects.exists()
    assert str(order.number) not in response.content.decode()


def test_another_members_orders_are_not_listed(
    buyer: dict[str, Any], strangers_order: dict[str, Any]
) -> None:
    # given / when
    response = buyer["client"].get("/api/v1/orders")
    # then
    assert response.status_code == 200
    assert response.json()["items"] == []


def test_another_members_after_sale_is_404(buyer: dict[str, Any]) -> None:
    # given someone else's after-sale request
    after_sale = factories.after_sale()
    # when
    got = buyer["client"].get(f"/api/v1/after-sales/{after_sale.pk}")
    withdrawn = post(buyer["client"], f"/api/v1/after-sales/{after_sale.pk}/withdraw")
    shipped = post(
        buyer["client"],
        f"/api/v1/after-sales/{after_sale.pk}/return-shipment",
        {"carrier": "SF", "tracking_no": "SF1234567890"},
    )
    # then
    for response in (got, withdrawn, shipped):
        assert_refused(response, 404, "not_found")
    assert AfterSale.objects.get(pk=after_sale.pk).status == "requested"


@pytest.mark.parametrize("order_id", ["0", "-1", "abc", str(2**63)])
def test_a_bad_order_id_in_the_path_is_a_4xx(buyer: dict[str, Any], order_id: str) -> None:
    # given / when
    response = buyer["client"].get(f"/api/v1/orders/{order_id}")
    # then
    assert 400 <= response.status_code < 500


# --- after-sale requests ------------------------------------------------------------------------
@pytest.fixture
def paid(buyer: dict[str, Any]) -> Order:
    return factories.order(buyer=buyer["member"], items=[(buyer["sku"], 3)], paid=True)


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        ([], 422),
        ([{"item_id": 999999, "quantity": 1}], 400),
        ([{"item_id": "ITEM", "quantity": 4}], 400),
        ([{"item_id": "ITEM", "quantity": 0}], 422),
        ([{"item_id": "ITEM", "quantity": 1}, {"item_id": "ITEM", "quantity": 1}], 400),
    ],
    ids=["empty", "foreign_item", "too_many", "zero", "twice"],
)
def test_a_bad_after_sale_request_is_refused(
    buyer: dict[str, Any], paid: Order, lines: list[dict[str, Any]], status: int
) -> None:
    # given
    item_id = paid.items.get().pk
    lines = [
        {**line, "item_id": item_id if line["item_id"] == "ITEM" else line["item_id"]}
        for line in lines
    ]
    # when
    response = post(
        buyer["client"],
        f"/api/v1/orders/{paid.pk}/after-sales",
        {"kind": "refund_only", "reason": "other", "lines": lines},
    )
    # then
    assert_refused(response, status)
    assert not AfterSale.objects.exists()
    assert Order.objects.get(pk=paid.pk).status == OrderStatus.PAID


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "exchange"},
        {"reason": "because"},
        {"images": ["x"] * 10},
        {"description": "d" * 501},
    ],
    ids=["kind", "reason", "images", "description"],
)
def test_after_sale_fields_are_checked(
    buyer: dict[str, Any], paid: Order, changes: dict[str, Any]
) -> None:
    # given / when
    response = post(
        buyer["client"],
        f"/api/v1/orders/{paid.pk}/after-sales",
        {
            "kind": "refund_only",
            "reason": "other",
            "lines": [{"item_id": paid.items.get().pk, "quantity": 1}],
            **changes,
        },
    )
    # then
    assert_refused(response, 422, "validation_error")
    assert not AfterSale.objects.exists()


def test_placing_from_an_empty_cart_is_refused(buyer: dict[str, Any]) -> None:
    # given an empty cart / when
    response = order_with(buyer, from_cart=True)
    # then
    assert_refused(response, 400, "invalid_input")
    assert_nothing_written(buyer)


def test_placing_from_the_cart_orders_the_selected_lines_and_empties_them(
    buyer: dict[str, Any],
) -> None:
    # given a cart with a selected and an unselected line
    other = factories.product(price=100, stock=5).skus.get()
    services.cart.add(member=buyer["member"], sku_id=buyer["sku"].pk, quantity=2)
    services.cart.add(member=buyer["member"], sku_id=other.pk, quantity=1)
    services.cart.select(member=buyer["member"], sku_ids=[other.pk], selected=False)
    # when
    response = place(buyer["client"], None, buyer["address_id"], from_cart=True)  # type: ignore[arg-type]
    # then only the selected line is ordered and leaves the cart
    assert response.status_code == 201, response.content
    order = Order.objects.get()
    assert [(i.sku_id, i.quantity) for i in order.items.all()] == [(buyer["sku"].pk, 2)]
    assert list(CartItem.objects.values_list("sku_id", flat=True)) == [other.pk]
    assert stock_of(buyer["sku"]) == 8
    assert stock_of(other) == 5
