"""Group buys (拼团): a member opens a group by paying for the group item; others
join through the share link; when N members have paid in time the orders go on
to fulfilment, otherwise every paid member is refunded automatically (a
refund-only after-sale the system approves: stock back, money back through the
payment provider) and unpaid orders are cancelled."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core import events
from miniops.core.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from miniops.marketing.models import Group, GroupBuy, GroupMember, GroupStatus
from miniops.marketing.services import common

logger = logging.getLogger("miniops.marketing")


@dataclass(frozen=True)
class GroupOrder:
    """An order placed to open or join a group, and the group's share code."""

    order: Any
    group_code: str


def _place(*, member: Any, group_buy: GroupBuy, address_id: int, code: str = "") -> GroupOrder:
    from miniops.orders.services import place_order

    order = place_order(
        member=member,
        items=[{"sku_id": group_buy.sku_id, "quantity": 1}],
        from_cart=False,
        address_id=address_id,
        context={"group_buy_id": group_buy.pk, "group_code": code},
    )
    link = GroupMember.objects.select_related("group").get(order=order)
    return GroupOrder(order=order, group_code=link.group.code)


def open_group(*, member: Any, group_buy_id: int, address_id: int) -> GroupOrder:
    """The leader's unpaid order; the group opens when it is paid."""
    group_buy = GroupBuy.objects.filter(pk=group_buy_id).first()
    if group_buy is None:
        raise NotFound(_("No such group buy."))
    if group_buy.status != "running":
        raise IllegalTransition(_("This group buy is not running."), code="group_buy_not_running")
    return _place(member=member, group_buy=group_buy, address_id=address_id)


def join_group(*, member: Any, code: str, address_id: int) -> GroupOrder:
    """A seat in the group of share code ``code``: an unpaid order."""
    group = Group.objects.select_related("group_buy").filter(code=code).first()
    if group is None:
        raise NotFound(_("No such group."))
    return _place(member=member, group_buy=group.group_buy, address_id=address_id, code=group.code)


# --- with the order (hooks, inside the order's transaction) -----------------------------
def _active_holdings(group_buy: GroupBuy, member_id: int) -> int:
    return (
        GroupMember.objects.filter(group__group_buy=group_buy, member_id=member_id)
        .exclude(group__status=GroupStatus.FAILED)
        .exclude(order__status__in=["cancelled", "closed"])
        .count()
    )


def attach(order: Any, group_buy_id: int, code: str) -> None:
    """A new group order: open the group, or take a seat in ``code``."""
    group_buy = GroupBuy.objects.select_for_update().filter(pk=group_buy_id).first()
    if group_buy is None:
        raise NotFound(_("No such group buy."))
    if not code and group_buy.status != "running":
        # opening needs a running group buy; joining a forming group does not:
        # groups already forming keep their time when the group buy ends early
        raise IllegalTransition(_("This group buy is not running."), code="group_buy_not_running")
    if _active_holdings(group_buy, order.member_id) >= group_buy.per_member_limit:
        raise Conflict(
            _("You have reached the limit for this group buy."), code="group_limit_reached"
        )
    now = timezone.now()
    if not code:
        group = Group.objects.create(
            group_buy=group_buy,
            leader_id=order.member_id,
            code=secrets.token_urlsafe(9)[:12],
            expires_at=min(now + timedelta(hours=group_buy.hours_to_fill), group_buy.ends_at),
        )
    else:
        found = Group.objects.select_for_update().filter(code=code, group_buy=group_buy).first()
        if found is None:
            raise NotFound(_("No such group."))
        group = found
        if group.status != GroupStatus.FORMING or group.expires_at <= now:
            raise IllegalTransition(_("This group is closed."), code="group_closed")
        # open once someone has paid (staying open if that member is later refunded)
        if not GroupMember.objects.filter(group=group, order__paid_at__isnull=False).exists():
            raise IllegalTransition(_("This group is not open yet."), code="group_not_open")
        seats = (
            GroupMember.objects.filter(group=group)
            .exclude(order__status__in=["cancelled", "closed"])
            .count()
        )
        if seats >= group_buy.group_size:
            raise Conflict(_("This group is full."), code="group_full")
    # A seat given up (the join order was cancelled unpaid, or refunded) can be
    # taken again: the old row goes, its order keeps its own history.
    GroupMember.objects.filter(
        group=group, member_id=order.member_id, order__status__in=["cancelled", "closed"]
    ).delete()
    try:
        with transaction.atomic():
            GroupMember.objects.create(group=group, member_id=order.member_id, order=order)
    except IntegrityError:
        raise Conflict(_("You are already in this group."), code="group_already_joined") from None


def on_paid(order: Any) -> None:
    link = (
        GroupMember.objects.select_related("group", "group__group_buy").filter(order=order).first()
    )
    if link is None:
        return
    group = Group.objects.select_for_update().get(pk=link.group_id)
    if group.status != GroupStatus.FORMING or group.expires_at <= timezone.now():
        # paid after the group failed or ran out of time (the sweep may not have
        # run yet): this payment does not count, and goes straight back
        transaction.on_commit(lambda: _refund_order(order.pk))
        return
    GroupMember.objects.filter(pk=link.pk).update(paid=True)
    Group.objects.filter(pk=group.pk).update(paid_count=F("paid_count") + 1)
    group.refresh_from_db()
    if group.paid_count >= link.group.group_buy.group_size:
        Group.objects.filter(pk=group.pk, status=GroupStatus.FORMING).update(
            status=GroupStatus.SUCCEEDED, finished_at=timezone.now()
        )
        events.track(
            "group_succeeded",
            member_id=group.leader_id,
            properties={"group": group.code, "group_buy_id": group.group_buy_id},
        )


def on_refunded(order: Any) -> None:
    """A paid member of a forming group refunded in full gives up their seat: they
    no longer count towards the group filling."""
    if order.refunded_amount < order.paid_amount:
        return
    link = GroupMember.objects.filter(order=order, paid=True).first()
    if link is None:
        return
    group = Group.objects.select_for_update().get(pk=link.group_id)
    if group.status != GroupStatus.FORMING:
        return
    if GroupMember.objects.filter(pk=link.pk, paid=True).update(paid=False):
        Group.objects.filter(pk=group.pk, paid_count__gt=0).update(paid_count=F("paid_count") - 1)


def check_shippable(order: Any) -> None:
    """A group order ships only once its group has succeeded."""
    link = GroupMember.objects.select_related("group").filter(order=order).first()
    if link is not None and link.group.status != GroupStatus.SUCCEEDED:
        raise IllegalTransition(
            _("This order's group has not been completed yet."), code="group_not_complete"
        )


def on_released(order: Any) -> None:
    """An unpaid group order was cancelled: its seat is free again (the row stays;
    seats count only live orders)."""


# --- expiry -----------------------------------------------------------------------------------
def expire_groups(now: Any = None) -> int:
    """Forming groups past their time fail: refund paid members, cancel the rest."""
    now = now or timezone.now()
    failed = 0
    for group in Group.objects.filter(status=GroupStatus.FORMING, expires_at__lte=now):
        with transaction.atomic():
            if not Group.objects.filter(pk=group.pk, status=GroupStatus.FORMING).update(
                status=GroupStatus.FAILED, finished_at=now
            ):
                continue
        failed += 1
        for link in GroupMember.objects.select_related("order").filter(group=group):
            if link.order.status == "paid":
                _refund_order(link.order_id)
            elif link.order.status == "unpaid":
                _cancel_order(link.order_id)
        events.track(
            "group_failed",
            member_id=group.leader_id,
            properties={"group": group.code, "group_buy_id": group.group_buy_id},
        )
    return failed


def _refund_order(order_id: int) -> None:
    from miniops.orders.models import Order
    from miniops.orders.services import approve, request_after_sale

    order = Order.objects.select_related("member").get(pk=order_id)
    try:
        after_sale = request_after_sale(
            order=order,
            member=order.member,
            kind="refund_only",
            reason="other",
            lines=[
                {"item_id": item.pk, "quantity": item.quantity - item.refunded_quantity}
                for item in order.items.all()
                if item.quantity > item.refunded_quantity
            ],
            description=_("The group did not fill in time."),
        )
        approve(after_sale=after_sale, actor=None, note=_("The group did not fill in time."))
    except Exception:  # the sweeper retries failed groups' orders that are still paid
        logger.exception("could not refund group order %s", order_id)


def _cancel_order(order_id: int) -> None:
    from miniops.orders.models import Order
    from miniops.orders.services import cancel_order

    try:
        cancel_order(order=Order.objects.get(pk=order_id), reason="group failed")
    except Exception:
        logger.exception("could not cancel group order %s", order_id)


def retry_failed_refunds() -> int:
    """Paid members of failed groups never asked for a refund (the first attempt
    raised) get their refund-only after-sale now. A refund the provider accepted
    but then reported as failed (REFUND.ABNORMAL / CLOSED: the member's account
    could not take the money) is not asked again — WeChat Pay counts it against
    the trade, so a new refund would be refused; it is a payment anomaly for an
    operator to settle. Refunds still processing are the orders reconciliation's.
    Returns how many were asked."""
    count = 0
    never = GroupMember.objects.filter(
        group__status=GroupStatus.FAILED, order__status="paid", order__after_sales__isnull=True
    )
    for link in never:
        _refund_order(link.order_id)
        count += 1
    return count


def end_early(*, group_buy: GroupBuy, actor: Any) -> GroupBuy:
    """No new groups; forming groups still get until their own deadline."""
    return common.end_early(
        group_buy, actor=actor, already_ended=_("This group buy has already ended.")
    )


def validate(group_buy: GroupBuy) -> None:
    errors = {}
    if group_buy.group_size < 2 or group_buy.group_size > 100:
        errors["group_size"] = _("Between 2 and 100.")
    if group_buy.hours_to_fill < 1 or group_buy.hours_to_fill > 24 * 14:
        errors["hours_to_fill"] = _("Between 1 and 336 hours.")
    if group_buy.group_price < 1:
        errors["group_price"] = _("At least 1 fen.")
    if group_buy.ends_at and group_buy.starts_at and group_buy.ends_at <= group_buy.starts_at:
        errors["ends_at"] = _("The end is before the start.")
    if errors:
        raise InvalidInput(fields=errors)
