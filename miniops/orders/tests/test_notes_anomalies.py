"""Internal order notes and payment-anomaly resolution: who may, what is kept, the
audit row, and the console dialogs that run them."""

from __future__ import annotations

from typing import Any

import pytest
from auditlog.models import LogEntry
from django.test import Client

from miniops.core.errors import Forbidden, IllegalTransition, InvalidInput
from miniops.orders import services
from miniops.orders.models import OrderEvent, OrderNote, PaymentAnomaly
from miniops.testing import factories

pytestmark = pytest.mark.django_db

CONFIRM = {"_form_submitted": "on"}


# --- internal notes -------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["ops_manager", "ops_staff", "customer_service"])
def test_a_note_is_kept_on_the_timeline_and_in_the_audit_log(role: str) -> None:
    # given an order and an operator who manages orders
    order = factories.order()
    operator = factories.operator_with_role(role)
    # when they add a note
    note = services.add_note(order=order, text="  客户来电：周末送货  ", actor=operator)
    # then it is kept, trimmed, on the timeline and in the audit log with its author
    assert (note.text, note.author_id) == ("客户来电：周末送货", operator.pk)
    assert OrderEvent.objects.filter(order=order, kind="note", actor=operator).count() == 1
    [row] = LogEntry.objects.get_for_object(note)
    assert (row.action, row.actor_id) == (LogEntry.Action.CREATE, operator.pk)
    assert row.changes == {"text": [None, "客户来电：周末送货"]}
    assert row.additional_data == {"order": order.number}


@pytest.mark.parametrize("role", ["analyst", "finance", "content_reviewer", None])
def test_only_order_managers_add_notes(role: str | None) -> None:
    order = factories.order()
    operator = factories.operator_with_role(role)
    with pytest.raises(Forbidden):
        services.add_note(order=order, text="不该写入", actor=operator)
    with pytest.raises(Forbidden):
        services.add_note(order=order, text="没有操作员", actor=None)
    assert not OrderNote.objects.exists()
    assert not OrderEvent.objects.filter(kind="note").exists()


@pytest.mark.parametrize("text", ["", "   ", "长" * 1001])
def test_an_empty_or_overlong_note_is_refused_with_nothing_written(text: str) -> None:
    order = factories.order()
    with pytest.raises(InvalidInput) as refused:
        services.add_note(order=order, text=text, actor=factories.operator_with_role("ops_staff"))
    assert "text" in refused.value.fields
    assert not OrderNote.objects.exists()
    assert not LogEntry.objects.filter(content_type__model="ordernote").exists()


def test_the_note_dialog_adds_a_note_for_customer_service(console_as: Any) -> None:
    order = factories.order()
    client: Client = console_as("customer_service")
    url = f"/console/orders/order/{order.pk}/note/"
    assert client.get(url).status_code == 200
    assert not OrderNote.objects.exists()
    response = client.post(url, {**CONFIRM, "text": "已电话确认地址"})
    assert response.status_code == 302
    assert OrderNote.objects.get().author_id == client.operator.pk  # type: ignore[attr-defined]


def test_the_read_only_analyst_cannot_add_a_note(console_as: Any) -> None:
    order = factories.order()
    analyst: Client = console_as("analyst")
    url = f"/console/orders/order/{order.pk}/note/"
    page = analyst.get(f"/console/orders/order/{order.pk}/change/").content.decode()
    assert url not in page  # the button is not offered
    assert analyst.get(url).status_code == 403
    assert analyst.post(url, {**CONFIRM, "text": "偷偷写一条"}).status_code == 403
    assert not OrderNote.objects.exists()


# --- payment anomalies ------------------------------------------------------------------------
def test_finance_resolves_an_anomaly_with_a_note_once() -> None:
    # given an open anomaly
    anomaly = factories.payment_anomaly()
    finance = factories.operator_with_role("finance")
    # when finance resolves it
    resolved = services.resolve_anomaly(anomaly=anomaly, note=" 已线下退款 ", actor=finance)
    # then who, when and how are kept, and audited
    assert resolved.resolved_at is not None
    assert (resolved.resolved_by_id, resolved.resolution_note) == (finance.pk, "已线下退款")
    [row] = LogEntry.objects.get_for_object(anomaly)
    assert (row.action, row.actor_id) == (LogEntry.Action.UPDATE, finance.pk)
    assert row.changes["resolution_note"] == ["", "已线下退款"]
    # when anyone resolves it again, it is refused and the first resolution stands
    with pytest.raises(IllegalTransition):
        services.resolve_anomaly(
            anomaly=anomaly, note="again", actor=factories.operator_with_role("super_admin")
        )
    again = PaymentAnomaly.objects.get(pk=anomaly.pk)
    assert (again.resolved_by_id, again.resolution_note) == (finance.pk, "已线下退款")
    assert LogEntry.objects.get_for_object(anomaly).count() == 1


@pytest.mark.parametrize("role", ["ops_manager", "analyst", "customer_service", None])
def test_only_finance_resolves_anomalies(role: str | None) -> None:
    # ops managers see anomalies (they export for finance) but do not settle them
    anomaly = factories.payment_anomaly()
    with pytest.raises(Forbidden):
        services.resolve_anomaly(anomaly=anomaly, actor=factories.operator_with_role(role))
    assert PaymentAnomaly.objects.get(pk=anomaly.pk).resolved_at is None
    assert not LogEntry.objects.get_for_object(anomaly).exists()


def test_an_overlong_resolution_note_is_refused() -> None:
    anomaly = factories.payment_anomaly()
    with pytest.raises(InvalidInput):
        services.resolve_anomaly(
            anomaly=anomaly, note="x" * 256, actor=factories.operator_with_role("finance")
        )
    assert PaymentAnomaly.objects.get(pk=anomaly.pk).resolved_at is None


def test_the_resolve_dialog(console_as: Any) -> None:
    anomaly = factories.payment_anomaly()
    url = f"/console/orders/paymentanomaly/{anomaly.pk}/resolve/"
    # the ops manager sees the anomaly but is refused the action
    manager: Client = console_as("ops_manager")
    assert manager.get(f"/console/orders/paymentanomaly/{anomaly.pk}/change/").status_code == 200
    assert manager.post(url, {**CONFIRM, "note": "x"}).status_code == 403
    # finance opens the dialog (nothing happens), then confirms
    finance: Client = console_as("finance")
    assert finance.get(url).status_code == 200
    assert PaymentAnomaly.objects.get(pk=anomaly.pk).resolved_at is None
    done = finance.post(url, {**CONFIRM, "note": "银行已退回"})
    assert done.status_code == 302
    resolved = PaymentAnomaly.objects.get(pk=anomaly.pk)
    assert resolved.resolution_note == "银行已退回"
    # a second confirmation says it is already resolved, and changes nothing
    again = finance.post(url, {**CONFIRM, "note": "再来一次"})
    assert again.status_code == 302
    assert PaymentAnomaly.objects.get(pk=anomaly.pk).resolution_note == "银行已退回"
    listing = finance.get("/console/orders/paymentanomaly/").content.decode()
    assert "银行已退回" in listing
