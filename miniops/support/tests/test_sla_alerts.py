"""SLA warnings and breaches reach people through the machinery that exists: the
console's real-time channel (``core.events.notify_operators`` → ``/ws/console/``),
the assignee at 80 %, the team leads at the breach; and the analytics alert
rules, which count breaches as a live metric and fire (console push, webhook)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing.websocket import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from miniops.analytics import alerts, realtime
from miniops.analytics.models import Alert, AlertRule
from miniops.asgi import application
from miniops.core import events
from miniops.support import services
from miniops.support.models import SlaPolicy, Ticket, TicketEvent
from miniops.testing import factories
from miniops.testing.fixtures import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def cookie(operator: Any) -> bytes:
    client = sign_in(Client(), operator)
    return f"miniops_session={client.cookies['miniops_session'].value}".encode()


def ticket_aged(minutes: int, assignee: Any, lead: Any) -> Ticket:
    SlaPolicy.objects.get_or_create(
        name="fast",
        defaults={
            "first_response_minutes": 60,
            "next_response_minutes": 60,
            "resolution_minutes": 600,
        },
    )
    ticket = factories.ticket()
    services.assign_ticket(actor=lead, ticket_id=ticket.pk, assignee=assignee)
    age(ticket, minutes)
    return ticket


def age(ticket: Ticket, minutes: int) -> None:
    then = timezone.now() - timedelta(minutes=minutes)
    Ticket.objects.filter(pk=ticket.pk).update(created_at=then)
    TicketEvent.objects.filter(ticket=ticket).update(at=then)


def test_the_warning_reaches_the_assignees_console_and_the_breach_the_leads() -> None:
    lead = factories.operator_with_role("ops_manager")
    assignee = factories.operator_with_role("customer_service")
    bystander = factories.operator_with_role("customer_service")

    async def connect(operator_cookie: bytes) -> WebsocketCommunicator:
        socket = WebsocketCommunicator(
            application,
            "/ws/console/",
            headers=[
                (b"origin", b"http://testserver"),
                (b"host", b"testserver"),
                (b"cookie", operator_cookie),
            ],
        )
        connected, _ = await socket.connect()
        assert connected
        assert (await socket.receive_json_from(timeout=5))["type"] == "hello"
        return socket

    cookies = {op.pk: cookie(op) for op in (lead, assignee, bystander)}
    ticket = ticket_aged(50, assignee, lead)

    async def run() -> dict[str, list[dict[str, Any]]]:
        sockets = {pk: await connect(value) for pk, value in cookies.items()}
        heard: dict[str, list[dict[str, Any]]] = {}

        async def drain(name: str, pk: int) -> None:
            frames = []
            while not await sockets[pk].receive_nothing(timeout=0.5):
                frames.append(await sockets[pk].receive_json_from(timeout=5))
            heard[name] = heard.get(name, []) + frames

        from channels.db import database_sync_to_async

        await database_sync_to_async(services.evaluate_slas)()  # 50 of 60 minutes: 83 %
        await drain("assignee_warning", assignee.pk)
        await drain("lead_warning", lead.pk)
        await database_sync_to_async(age)(ticket, 70)  # past the target
        await database_sync_to_async(services.evaluate_slas)()
        await drain("lead_breach", lead.pk)
        await drain("assignee_breach", assignee.pk)
        await drain("bystander", bystander.pk)
        for socket in sockets.values():
            await socket.disconnect()
        return heard

    heard = async_to_sync(run)()
    warning = [f for f in heard["assignee_warning"] if f.get("type") == "support.sla"]
    assert [(f["level"], f["metric"], f["ticket"]) for f in warning] == [
        ("warning", "first_response", ticket.pk)
    ]
    assert f"#{ticket.pk}" in warning[0]["message"]
    assert heard["lead_warning"] == []  # the assignee is told first
    breach = [f for f in heard["lead_breach"] if f.get("type") == "support.sla"]
    assert [(f["level"], f["metric"]) for f in breach] == [("breach", "first_response")]
    assert any(f.get("level") == "breach" for f in heard["assignee_breach"])
    assert heard["bystander"] == []  # another agent hears nothing of it


def test_an_alert_rule_on_sla_breaches_fires_through_the_alert_machinery() -> None:
    realtime.reset_local()
    lead = factories.operator_with_role("ops_manager")
    assignee = factories.operator_with_role("customer_service")
    rule = AlertRule.objects.create(
        name="SLA",
        metric=AlertRule.Metric.SLA_BREACHES,
        condition=AlertRule.Condition.ABOVE,
        threshold=0,
        window_minutes=5,
    )
    pushed: list[tuple[dict, int | None]] = []

    def publisher(payload: dict, operator_id: int | None) -> None:
        pushed.append((payload, operator_id))

    events.register_notice_publisher(publisher)
    try:
        ticket_aged(50, assignee, lead)
        services.evaluate_slas()  # a warning only: no breach counted
        assert alerts.evaluate(now_minute=realtime.current_minute() + 1) == []
        ticket_aged(70, assignee, lead)
        services.evaluate_slas()
        fired = alerts.evaluate(now_minute=realtime.current_minute() + 1)
    finally:
        events.unregister_notice_publisher(publisher)
    assert [a.rule_id for a in fired] == [rule.pk]
    assert fired[0].value == 1
    assert Alert.objects.count() == 1
    assert ({"type": "alert", "message": fired[0].message, "id": fired[0].pk}, None) in pushed
