"""Group buys (拼团): a member opens a group by paying, others join through the share
code; N paid members in time send every order on to fulfilment, a group that runs
out of time refunds every paid member through the payment provider by itself
(and retries a refund that failed); seats, limits, unknown, full and closed groups;
ending a group buy early; the group buy's results."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from miniops.core.errors import Forbidden, IllegalTransition
from miniops.marketing import selectors
from miniops.marketing.models import Group, GroupBuy, GroupMember, GroupStatus
from miniops.marketing.services import groups
from miniops.marketing.tests.helpers import Buyer, buyer, error_of, pay, post, ship, stock_of
from miniops.orders import services as order_services
from miniops.orders.models import (
    AfterSale,
    Order,
    OrderStatus,
    PaymentAnomaly,
    Refund,
    RefundStatus,
)
from miniops.orders.providers import PaymentError, PaymentSimulator, payment_provider
from miniops.orders.services import aftersales
from miniops.testing import factories

pytestmark = pytest.mark.django_db

Capture = Callable[..., Any]


# --- helpers ------------------------------------------------------------------------------------
def open_group(who: Buyer, group_buy: GroupBuy | int, key: str | None = None) -> Any:
    group_buy_id = group_buy if isinstance(group_buy, int) else group_buy.pk
    return post(
        who.client,
        f"/api/v1/group-buys/{group_buy_id}/open",
        {"address_id": who.address_id},
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
    )


def join(who: Buyer, code: str, key: str | None = None) -> Any:
    return post(
        who.client,
        f"/api/v1/groups/{code}/join",
        {"address_id": who.address_id},
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
    )


def order_of(response: Any) -> Order:
    assert response.status_code == 201, response.content
    return Order.objects.get(pk=response.json()["id"])


def group_of(code: str) -> Group:
    return Group.objects.get(code=code)


def opened_and_paid(leader: Buyer, group_buy: GroupBuy) -> tuple[Order, str]:
    """The leader opens a group and pays: the group is open for others to join."""
    response = open_group(leader, group_buy)
    order = order_of(response)
    pay(order)
    return Order.objects.get(pk=order.pk), str(response.json()["group_code"])


def joined_and_paid(who: Buyer, code: str) -> Order:
    order = order_of(join(who, code))
    return pay(order)


def run_out_of_time(code: str) -> None:
    Group.objects.filter(code=code).update(expires_at=timezone.now() - timedelta(seconds=1))


def expire(capture: Capture) -> int:
    """The periodic sweep; the simulator's refund notices arrive after commit."""
    with capture(execute=True):
        return groups.expire_groups()


def status_of(order: Order) -> str:
    return str(Order.objects.values_list("status", flat=True).get(pk=order.pk))


def successful_refunds(order: Order) -> list[int]:
    return list(
        Refund.objects.filter(order=order, status=RefundStatus.SUCCESS).values_list(
            "amount", flat=True
        )
    )


@pytest.fixture
def group_buy() -> GroupBuy:
    """三人团: 50.00 list price, 39.90 in a group of three, 100 in stock."""
    result: GroupBuy = factories.group_buy(group_size=3, per_member_limit=1)
    return result


@pytest.fixture
def leader() -> Buyer:
    return buyer()


# --- a group that fills ------------------------------------------------------------------------
def test_three_paid_members_in_time_complete_the_group_and_every_order_ships(
    group_buy: GroupBuy, leader: Buyer
) -> None:
    # given the leader opens a group
    opened = open_group(leader, group_buy)
    leader_order = order_of(opened)
    code = opened.json()["group_code"]
    # then the order is priced at the group price and the group is forming, not yet open
    assert leader_order.payable_amount == 3990
    assert leader_order.pricing["lines"][0]["price_source"] == "group"
    group = group_of(code)
    assert (group.status, group.paid_count, group.leader_id) == (
        GroupStatus.FORMING,
        0,
        leader.pk,
    )
    assert group.expires_at <= timezone.now() + timedelta(hours=group_buy.hours_to_fill)
    # when the leader pays and two others join through the code and pay
    pay(leader_order)
    assert group_of(code).paid_count == 1
    second, third = buyer(), buyer()
    second_order = joined_and_paid(second, code)
    assert group_of(code).status == GroupStatus.FORMING
    third_order = joined_and_paid(third, code)
    # then the group has succeeded
    group = group_of(code)
    assert (group.status, group.paid_count) == (GroupStatus.SUCCEEDED, 3)
    assert group.finished_at is not None
    detail = leader.client.get(f"/api/v1/groups/{code}").json()
    assert (detail["status"], detail["paid_count"], detail["group_size"]) == ("succeeded", 3, 3)
    # and every order goes on to fulfilment
    for order in (leader_order, second_order, third_order):
        assert ship(order).status == OrderStatus.SHIPPED
    assert not Refund.objects.exists()


def test_the_group_detail_is_public_with_the_server_time_for_the_countdown(
    group_buy: GroupBuy, leader: Buyer
) -> None:
    # given an open group
    _order, code = opened_and_paid(leader, group_buy)
    # when anyone opens the share link
    response = Client().get(f"/api/v1/groups/{code}")
    # then they see its progress and deadline
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["code"] == code
    assert body["group_buy_id"] == group_buy.pk
    assert (body["status"], body["paid_count"], body["group_size"]) == ("forming", 1, 3)
    assert body["expires_at"] > body["server_time"]


def test_running_group_buys_are_listed_with_the_original_price(group_buy: GroupBuy) -> None:
    # given a running group buy and one not started yet
    factories.group_buy(
        starts_at=timezone.now() + timedelta(days=1), ends_at=timezone.now() + timedelta(days=2)
    )
    # when
    listed = buyer().client.get("/api/v1/group-buys").json()
    # then only the running one is offered, with both prices
    assert [(g["id"], g["group_price"], g["original_price"]) for g in listed] == [
        (group_buy.pk, 3990, 5000)
    ]


# --- unpaid members and the deadline -----------------------------------------------------------
def test_an_unpaid_joiner_does_not_count_and_the_group_cannot_ship(
    group_buy: GroupBuy, leader: Buyer
) -> None:
    # given a paid leader and two joiners of whom one has paid
    leader_order, code = opened_and_paid(leader, group_buy)
    joined_and_paid(buyer(), code)
    unpaid = order_of(join(buyer(), code))
    # then the group has two paid members of three and is still forming
    group = group_of(code)
    assert (group.status, group.paid_count) == (GroupStatus.FORMING, 2)
    assert GroupMember.objects.filter(group=group).count() == 3
    assert GroupMember.objects.get(order=unpaid).paid is False
    # and a paid order of the forming group cannot ship
    with pytest.raises(IllegalTransition) as refused:
        ship(leader_order)
    assert refused.value.code == "group_not_complete"
    assert status_of(leader_order) == OrderStatus.PAID


def test_a_group_out_of_time_refunds_every_paid_member_and_cancels_the_unpaid(
    group_buy: GroupBuy, leader: Buyer, django_capture_on_commit_callbacks: Capture
) -> None:
    # given a group of three with two paid members and one unpaid when its time runs out
    leader_order, code = opened_and_paid(leader, group_buy)
    second_order = joined_and_paid(buyer(), code)
    unpaid = order_of(join(buyer(), code))
    assert stock_of(group_buy.sku) == 97
    run_out_of_time(code)
    # when the sweep runs
    assert expire(django_capture_on_commit_callbacks) == 1
    # then the group failed
    group = group_of(code)
    assert group.status == GroupStatus.FAILED
    assert group.finished_at is not None
    # and each paid member got the whole payment back through the provider
    provider = payment_provider.get()
    for order in (leader_order, second_order):
        order.refresh_from_db()
        assert order.status == OrderStatus.CLOSED
        assert order.refunded_amount == order.paid_amount == 3990
        assert successful_refunds(order) == [3990]
        after_sale = AfterSale.objects.get(order=order)
        assert (after_sale.kind, after_sale.status, after_sale.decided_by) == (
            "refund_only",
            "refunded",
            None,
        )
        refund = Refund.objects.get(order=order)
        assert refund.refund_id
        assert provider.query_refund(refund.out_refund_no).status == "SUCCESS"
    # and the unpaid order was cancelled; all three units are back in stock
    assert status_of(unpaid) == OrderStatus.CANCELLED
    assert not Refund.objects.filter(order=unpaid).exists()
    assert stock_of(group_buy.sku) == 100
    # when the sweep runs again
    assert expire(django_capture_on_commit_callbacks) == 0
    # then nobody is refunded twice
    assert Refund.objects.count() == 2


def test_the_periodic_task_runs_the_sweep(
    group_buy: GroupBuy, leader: Buyer, django_capture_on_commit_callbacks: Capture
) -> None:
    # given a paid group past its time
    order, code = opened_and_paid(leader, group_buy)
    run_out_of_time(code)
    # when the minutely task runs (Huey runs tasks immediately in tests)
    from miniops.marketing import tasks

    with django_capture_on_commit_callbacks(execute=True):
        tasks.expire_groups.call_local()
    # then the member is refunded
    assert group_of(code).status == GroupStatus.FAILED
    assert status_of(order) == OrderStatus.CLOSED
    assert successful_refunds(order) == [3990]


def test_a_group_still_in_time_is_left_alone_by_the_sweep(
    group_buy: GroupBuy, leader: Buyer, django_capture_on_commit_callbacks: Capture
) -> None:
    # given a forming group with time left
    order, code = opened_and_paid(leader, group_buy)
    # when the sweep runs
    assert expire(django_capture_on_commit_callbacks) == 0
    # then nothing happens
    assert group_of(code).status == GroupStatus.FORMING
    assert status_of(order) == OrderStatus.PAID
    assert not Refund.objects.exists()


def test_a_refund_that_could_not_start_is_retried_by_the_sweeper(
    group_buy: GroupBuy,
    leader: Buyer,
    django_capture_on_commit_callbacks: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a paid group past its time, and the refund request failing once
    order, code = opened_and_paid(leader, group_buy)
    run_out_of_time(code)
    real = order_services.request_after_sale
    calls: list[int] = []

    def failing_once(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return real(**kwargs)

    monkeypatch.setattr(order_services, "request_after_sale", failing_once)
    # when the sweep runs
    assert expire(django_capture_on_commit_callbacks) == 1
    # then the group failed but the member is not refunded yet
    assert group_of(code).status == GroupStatus.FAILED
    assert status_of(order) == OrderStatus.PAID
    assert not Refund.objects.exists()
    # when the retry runs
    with django_capture_on_commit_callbacks(execute=True):
        assert groups.retry_failed_refunds() == 1
    # then the member is refunded, once
    assert status_of(order) == OrderStatus.CLOSED
    assert successful_refunds(order) == [3990]
    with django_capture_on_commit_callbacks(execute=True):
        assert groups.retry_failed_refunds() == 0
    assert Refund.objects.count() == 1


def test_a_refund_the_provider_did_not_accept_is_retried_by_reconciliation(
    group_buy: GroupBuy,
    leader: Buyer,
    django_capture_on_commit_callbacks: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a paid group past its time, and WeChat Pay unreachable for the refund call
    order, code = opened_and_paid(leader, group_buy)
    run_out_of_time(code)
    real = PaymentSimulator.refund

    def unreachable(self: Any, **kwargs: Any) -> Any:
        raise PaymentError("SYSTEM_ERROR")

    monkeypatch.setattr(PaymentSimulator, "refund", unreachable)
    # when the sweep runs
    expire(django_capture_on_commit_callbacks)
    # then the refund is recorded as processing, not yet accepted
    refund = Refund.objects.get(order=order)
    assert (refund.status, refund.refund_id) == (RefundStatus.PROCESSING, "")
    assert status_of(order) == OrderStatus.PAID
    # when the provider is back and reconciliation retries the same refund
    monkeypatch.setattr(PaymentSimulator, "refund", real)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = aftersales.reconcile_refunds(older_than=timedelta(0))
    # then it goes through, under the same out_refund_no
    assert outcome == {"retried": 1}
    assert Refund.objects.get().status == RefundStatus.SUCCESS
    assert Refund.objects.get().out_refund_no == refund.out_refund_no
    assert status_of(order) == OrderStatus.CLOSED


def test_a_refund_the_provider_rejected_is_left_to_an_operator(
    group_buy: GroupBuy,
    leader: Buyer,
    django_capture_on_commit_callbacks: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a paid group past its time, whose refund WeChat Pay reports as abnormal
    order, code = opened_and_paid(leader, group_buy)
    run_out_of_time(code)
    from miniops.orders import tasks as order_tasks

    def abnormal(out_refund_no: str) -> None:
        simulator: Any = payment_provider.get()
        headers, body = simulator.complete_refund(out_refund_no, status="ABNORMAL")
        order_services.handle_wechat_notice(headers=headers, body=body)

    monkeypatch.setattr(order_tasks, "deliver_simulated_refund", abnormal)
    expire(django_capture_on_commit_callbacks)
    assert Refund.objects.get(order=order).status == RefundStatus.FAILED
    assert status_of(order) == OrderStatus.PAID
    monkeypatch.undo()
    # when the sweeper runs again
    with django_capture_on_commit_callbacks(execute=True):
        asked = groups.retry_failed_refunds()
    # then it does not ask WeChat Pay again (the trade's refundable amount is
    # spent), and the failure waits as a payment anomaly for an operator
    assert asked == 0
    assert list(Refund.objects.filter(order=order).values_list("status", flat=True)) == [
        RefundStatus.FAILED
    ]
    assert PaymentAnomaly.objects.filter(order=order, kind="refund_failed").exists()


def test_a_member_paying_after_the_group_failed_is_refunded(
    group_buy: GroupBuy, leader: Buyer, django_capture_on_commit_callbacks: Capture
) -> None:
    # given a joiner's unpaid order with an open WeChat trade, and the group failing meanwhile
    _order, code = opened_and_paid(leader, group_buy)
    late = order_of(join(buyer(), code))
    order_services.start_payment(order=late)
    Group.objects.filter(code=code).update(status=GroupStatus.FAILED)
    # when the payment goes through anyway
    with django_capture_on_commit_callbacks(execute=True):
        pay(late)
    # then the money goes straight back
    assert status_of(late) == OrderStatus.CLOSED
    assert successful_refunds(late) == [3990]
    assert group_of(code).paid_count == 1


def test_a_payment_after_the_deadline_does_not_complete_the_group(
    leader: Buyer, django_capture_on_commit_callbacks: Capture
) -> None:
    # given a two-person group whose second member ordered in time but pays after the deadline
    group_buy = factories.group_buy(group_size=2)
    _order, code = opened_and_paid(leader, group_buy)
    late = order_of(join(buyer(), code))
    run_out_of_time(code)
    # when the payment arrives before the sweep has run
    with django_capture_on_commit_callbacks(execute=True):
        pay(late)
    # then the group did not fill in time
    assert group_of(code).status != GroupStatus.SUCCEEDED


# --- seats and limits --------------------------------------------------------------------------
def test_a_member_cannot_join_the_same_group_twice(group_buy: GroupBuy, leader: Buyer) -> None:
    # given a group buy members may join twice, and a member already in a group
    GroupBuy.objects.filter(pk=group_buy.pk).update(per_member_limit=2)
    _order, code = opened_and_paid(leader, group_buy)
    member = buyer()
    order_of(join(member, code))
    orders = Order.objects.count()
    # when the member joins the same group again, and the leader joins their own group
    again = join(member, code)
    own = join(leader, code)
    # then both are refused and nothing is written
    for response in (again, own):
        assert response.status_code == 409, response.content
        assert error_of(response)["code"] == "group_already_joined"
    assert Order.objects.count() == orders
    assert GroupMember.objects.filter(group__code=code).count() == 2
    assert stock_of(group_buy.sku) == 98


def test_the_per_member_limit_counts_live_group_orders(group_buy: GroupBuy, leader: Buyer) -> None:
    # given a member who opened a group (one per member)
    first = order_of(open_group(leader, group_buy))
    # when they open a second one, or join someone else's
    other_code = opened_and_paid(buyer(), group_buy)[1]
    second = open_group(leader, group_buy)
    joined = join(leader, other_code)
    # then both are refused and nothing is written
    for response in (second, joined):
        assert response.status_code == 409, response.content
        assert error_of(response)["code"] == "group_limit_reached"
    assert Order.objects.filter(member=leader.member).count() == 1
    # when the first order is cancelled unpaid
    assert post(leader.client, f"/api/v1/orders/{first.pk}/cancel").status_code == 200
    # then the member may open a group again
    assert open_group(leader, group_buy).status_code == 201


def test_retrying_with_the_same_idempotency_key_opens_one_group(
    group_buy: GroupBuy, leader: Buyer
) -> None:
    # given / when the open call is sent twice with the same key
    key = str(uuid.uuid4())
    first, second = open_group(leader, group_buy, key), open_group(leader, group_buy, key)
    # then one order and one group exist, and both answers are the same
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert Order.objects.count() == 1
    assert Group.objects.count() == 1


def test_joining_a_full_group_is_refused_until_a_seat_frees(
    leader: Buyer,
) -> None:
    # given a two-person group whose second seat is held by an unpaid order
    group_buy = factories.group_buy(group_size=2)
    _order, code = opened_and_paid(leader, group_buy)
    holder = buyer()
    held = order_of(join(holder, code))
    latecomer = buyer()
    # when someone else joins
    refused = join(latecomer, code)
    # then the group is full and nothing is written
    assert refused.status_code == 409, refused.content
    assert error_of(refused)["code"] == "group_full"
    assert not Order.objects.filter(member=latecomer.member).exists()
    # when the seat holder cancels unpaid
    assert post(holder.client, f"/api/v1/orders/{held.pk}/cancel").status_code == 200
    # then the seat is free again and the latecomer completes the group
    joined_and_paid(latecomer, code)
    assert group_of(code).status == GroupStatus.SUCCEEDED


@pytest.mark.parametrize("state", ["out_of_time", "failed", "succeeded"])
def test_joining_a_closed_group_is_refused(leader: Buyer, state: str) -> None:
    # given a group past its time (not swept yet), failed, or already complete
    group_buy = factories.group_buy(group_size=2)
    _order, code = opened_and_paid(leader, group_buy)
    if state == "out_of_time":
        run_out_of_time(code)
    elif state == "failed":
        Group.objects.filter(code=code).update(status=GroupStatus.FAILED)
    else:
        joined_and_paid(buyer(), code)
    latecomer = buyer()
    stock = stock_of(group_buy.sku)
    # when another member joins
    response = join(latecomer, code)
    # then it is refused and nothing is written
    assert response.status_code == 409, response.content
    assert error_of(response)["code"] == "group_closed"
    assert not Order.objects.filter(member=latecomer.member).exists()
    assert stock_of(group_buy.sku) == stock


def test_a_group_whose_leader_has_not_paid_cannot_be_joined(
    group_buy: GroupBuy, leader: Buyer
) -> None:
    # given a group opened but not paid
    code = open_group(leader, group_buy).json()["group_code"]
    # when someone joins
    response = join(buyer(), code)
    # then
    assert response.status_code == 409
    assert error_of(response)["code"] == "group_not_open"
    assert Order.objects.count() == 1


@pytest.mark.parametrize("code", ["NOSUCHGROUP1", "abcd"])
def test_an_unknown_group_is_404(code: str) -> None:
    # given a member and no such group
    who = buyer()
    # when they join it or look at it
    joined = join(who, code)
    looked = who.client.get(f"/api/v1/groups/{code}")
    # then
    for response in (joined, looked):
        assert response.status_code == 404, response.content
        assert error_of(response)["code"] == "not_found"
    assert not Order.objects.exists()


def test_an_unknown_group_buy_is_404() -> None:
    response = open_group(buyer(), 987654)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert not Order.objects.exists()


def test_a_member_who_cancelled_an_unpaid_join_may_join_again(
    group_buy: GroupBuy, leader: Buyer
) -> None:
    # given a member who joined and then cancelled the unpaid order
    _order, code = opened_and_paid(leader, group_buy)
    member = buyer()
    first = order_of(join(member, code))
    assert post(member.client, f"/api/v1/orders/{first.pk}/cancel").status_code == 200
    # when they join again
    response = join(member, code)
    # then they get a seat
    assert response.status_code == 201, response.content


def test_a_member_refunded_while_the_group_forms_no_longer_counts(
    leader: Buyer, django_capture_on_commit_callbacks: Capture
) -> None:
    # given a two-person group whose leader paid, then asked for a refund that was approved
    group_buy = factories.group_buy(group_size=2)
    leader_order, code = opened_and_paid(leader, group_buy)
    after_sale = order_services.request_after_sale(
        order=leader_order,
        member=leader.member,
        kind="refund_only",
        reason="changed_mind",
        lines=[{"item_id": leader_order.items.get().pk, "quantity": 1}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        order_services.approve(
            after_sale=after_sale, actor=factories.operator_with_role("customer_service")
        )
    assert status_of(leader_order) == OrderStatus.CLOSED
    # when one other member joins and pays
    joined_and_paid(buyer(), code)
    # then the group has one paying member of two and is not complete
    group = group_of(code)
    assert group.status == GroupStatus.FORMING
    assert group.paid_count == 1


# --- ending a group buy early ------------------------------------------------------------------
def test_ending_a_group_buy_early_stops_new_groups(group_buy: GroupBuy, leader: Buyer) -> None:
    # given a forming group
    _order, code = opened_and_paid(leader, group_buy)
    deadline = group_of(code).expires_at
    # when the operations manager ends the group buy
    ended = groups.end_early(group_buy=group_buy, actor=factories.operator_with_role("ops_manager"))
    # then it is ended, no longer listed, and no group can be opened
    assert ended.status == "ended"
    assert ended.ended_early_at is not None
    assert buyer().client.get("/api/v1/group-buys").json() == []
    refused = open_group(buyer(), group_buy)
    assert refused.status_code == 409
    assert error_of(refused)["code"] == "group_buy_not_running"
    # and the forming group keeps its own deadline
    assert group_of(code).expires_at == deadline
    assert group_of(code).status == GroupStatus.FORMING


def test_a_forming_group_can_still_fill_after_the_group_buy_ended_early(
    group_buy: GroupBuy, leader: Buyer
) -> None:
    # given a forming group and the group buy ended early
    _order, code = opened_and_paid(leader, group_buy)
    groups.end_early(group_buy=group_buy, actor=None)
    # when another member joins the forming group
    response = join(buyer(), code)
    # then they get a seat
    assert response.status_code == 201, response.content


def test_ending_early_needs_marketing_manage_and_happens_once(group_buy: GroupBuy) -> None:
    # given / when customer service tries
    with pytest.raises(Forbidden):
        groups.end_early(
            group_buy=group_buy, actor=factories.operator_with_role("customer_service")
        )
    # then nothing changed
    assert GroupBuy.objects.get(pk=group_buy.pk).ended_early_at is None
    # when the manager ends it twice
    manager = factories.operator_with_role("ops_manager")
    groups.end_early(group_buy=group_buy, actor=manager)
    with pytest.raises(IllegalTransition):
        groups.end_early(group_buy=GroupBuy.objects.get(pk=group_buy.pk), actor=manager)


def test_a_group_buy_not_started_cannot_be_opened() -> None:
    # given a group buy starting tomorrow
    upcoming = factories.group_buy(
        starts_at=timezone.now() + timedelta(days=1), ends_at=timezone.now() + timedelta(days=2)
    )
    # when / then
    response = open_group(buyer(), upcoming)
    assert response.status_code == 409
    assert error_of(response)["code"] == "group_buy_not_running"
    assert not Order.objects.exists()


def test_a_group_never_outlasts_its_group_buy() -> None:
    # given a group buy ending in 2 hours, whose groups get 24 hours to fill
    ends = timezone.now() + timedelta(hours=2)
    group_buy = factories.group_buy(ends_at=ends, hours_to_fill=24)
    # when a group is opened
    code = open_group(buyer(), group_buy).json()["group_code"]
    # then it must fill by the group buy's end
    assert group_of(code).expires_at == ends


# --- rules and results -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"group_size": 1}, "group_size"),
        ({"group_size": 101}, "group_size"),
        ({"hours_to_fill": 0}, "hours_to_fill"),
        ({"hours_to_fill": 337}, "hours_to_fill"),
        ({"group_price": 0}, "group_price"),
        ({"ends_at_before_start": True}, "ends_at"),
    ],
)
def test_group_buy_rules(fields: dict[str, Any], field: str) -> None:
    from miniops.core.errors import InvalidInput

    now = timezone.now()
    data: dict[str, Any] = {
        "name": "拼团",
        "group_price": 3990,
        "group_size": 2,
        "hours_to_fill": 24,
        "starts_at": now,
        "ends_at": now + timedelta(days=1),
    }
    if fields.pop("ends_at_before_start", False):
        data["ends_at"] = now - timedelta(days=1)
    data.update(fields)
    with pytest.raises(InvalidInput) as refused:
        groups.validate(GroupBuy(**data))
    assert field in refused.value.fields


def test_the_results_count_groups_members_gmv_and_cost_from_the_orders(
    leader: Buyer, django_capture_on_commit_callbacks: Capture
) -> None:
    # given a two-person group buy with one group complete and one failed
    group_buy = factories.group_buy(group_size=2)
    _order, done = opened_and_paid(leader, group_buy)
    joined_and_paid(buyer(), done)
    _order, lost = opened_and_paid(buyer(), group_buy)
    run_out_of_time(lost)
    expire(django_capture_on_commit_callbacks)
    # when the results are read
    row = next(r for r in selectors.group_stats() if r["id"] == group_buy.pk)
    # then they agree with the orders: only the kept group's payments count
    kept = Order.objects.filter(group_member__group__code=done)
    gmv = sum(o.paid_amount - o.refunded_amount for o in kept)
    assert gmv == 2 * 3990
    assert (row["groups"], row["succeeded"], row["failed"]) == (2, 1, 1)
    assert (row["participants"], row["paid_members"]) == (3, 3)
    assert row["conversion"] == 0.5
    assert (row["gmv"], row["cost"]) == (gmv, 2 * (5000 - 3990))
    assert row["roi"] == round(gmv / (2 * 1010), 2)
    assert row["status"] == "running"
    # and the failed group's refunds cover exactly what its member paid
    for order in Order.objects.filter(group_member__group__code=lost):
        assert order.refunded_amount == order.paid_amount == 3990
