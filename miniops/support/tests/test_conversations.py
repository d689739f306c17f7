"""Conversations through the services: messages once and in order, assignment,
claim, transfer without copies, notes, close/reopen, CSAT, the WeChat window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from miniops.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from miniops.support import selectors, services
from miniops.support.models import (
    AgentStatus,
    Channel,
    Conversation,
    ConversationState,
    Handoff,
    Message,
    MessageKind,
    QuickReply,
)
from miniops.support.providers import CustomerServiceSimulator, customer_service
from miniops.support.tests.helpers import agent, queue
from miniops.testing import factories

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_member_opens_once_and_resumes_the_same_conversation() -> None:
    queue()
    member = factories.member()
    first = services.open_conversation(member=member)
    again = services.open_conversation(member=member)
    assert first.pk == again.pk
    assert first.state == ConversationState.WAITING


def test_messages_are_numbered_and_a_resend_is_stored_once() -> None:
    queue()
    member = factories.member()
    conv = services.open_conversation(member=member)
    one = services.send_member_message(
        member=member, conversation_id=conv.pk, text="你好", client_id="c1"
    )
    two = services.send_member_message(
        member=member, conversation_id=conv.pk, text="在吗", client_id="c2"
    )
    resend = services.send_member_message(
        member=member, conversation_id=conv.pk, text="你好", client_id="c1"
    )
    assert (one.message.seq, two.message.seq) == (1, 2)
    assert resend.created is False
    assert resend.message.pk == one.message.pk
    assert Message.objects.filter(conversation=conv).count() == 2
    assert [m.seq for m in selectors.messages_after(conv.pk, 0)] == [1, 2]
    assert [m.seq for m in selectors.messages_after(conv.pk, 1)] == [2]


def test_bad_messages_are_refused_and_nothing_is_written() -> None:
    queue()
    member, other = factories.member(), factories.member()
    conv = services.open_conversation(member=member)
    others_order = factories.order(buyer=other)
    cases = [
        ({"text": ""}, InvalidInput),
        ({"text": "x" * 2001}, InvalidInput),
        ({"kind": "order", "payload": {"order_id": others_order.pk}}, NotFound),
        ({"kind": "product", "payload": {"product_id": 999999}}, NotFound),
        ({"kind": "coupon", "payload": {}}, InvalidInput),
        ({"kind": "image", "payload": {"image": "../../etc/passwd"}}, InvalidInput),
    ]
    for kwargs, error in cases:
        with pytest.raises(error):
            services.send_member_message(member=member, conversation_id=conv.pk, **kwargs)
    with pytest.raises(NotFound):
        services.send_member_message(member=other, conversation_id=conv.pk, text="hi")
    assert Message.objects.count() == 0


def test_order_and_product_cards_carry_what_the_card_shows() -> None:
    queue()
    member = factories.member()
    order = factories.order(buyer=member)
    product = factories.product()
    conv = services.open_conversation(member=member, order_id=order.pk)
    assert conv.order_id == order.pk
    card = services.send_member_message(
        member=member, conversation_id=conv.pk, kind="order", payload={"order_id": order.pk}
    ).message
    assert card.payload["number"] == order.number
    product_card = services.send_member_message(
        member=member,
        conversation_id=conv.pk,
        kind="product",
        payload={"product_id": product.pk},
    ).message
    assert product_card.payload["title"] == product.title
    with pytest.raises(NotFound):
        services.open_conversation(member=factories.member(), order_id=order.pk)


def test_assignment_picks_the_least_loaded_online_agent_oldest_first() -> None:
    queue()
    busy = agent(capacity=3)
    idle = agent(capacity=3)
    agent(capacity=3, online=False)
    AgentStatus.objects.filter(operator=busy).update(load=2)
    members = [factories.member() for _ in range(3)]
    convs = []
    for i, m in enumerate(members):
        c = services.open_conversation(member=m)
        Conversation.objects.filter(pk=c.pk).update(
            waiting_since=timezone.now() - timedelta(minutes=10 - i),
            state="waiting",
            assignee=None,
        )
        convs.append(c)
    AgentStatus.objects.filter(operator=idle).update(load=0)
    AgentStatus.objects.filter(operator=busy).update(load=2)
    Conversation.objects.update(state="waiting", assignee=None)
    done = services.assign_waiting()
    assert done[0] == (convs[0].pk, idle.pk)  # oldest to the least loaded
    loads = dict(AgentStatus.objects.values_list("operator_id", "load"))
    assert loads[idle.pk] <= 3
    assert loads[busy.pk] <= 3
    assert sum(1 for _ in done) == 3


def test_capacity_is_never_exceeded() -> None:
    queue()
    only = agent(capacity=2)
    for _ in range(4):
        services.open_conversation(member=factories.member())
    services.assign_waiting()
    assert Conversation.objects.filter(assignee=only).count() == 2
    assert Conversation.objects.filter(state="waiting").count() == 2
    assert AgentStatus.objects.get(operator=only).load == 2


def test_claim_transfer_keeps_history_and_the_next_agent_reads_it() -> None:
    queue()
    first = agent(capacity=0)
    second = agent(capacity=5)
    AgentStatus.objects.filter(operator=second).update(state="away")
    member = factories.member()
    conv = services.open_conversation(member=member)
    services.send_member_message(member=member, conversation_id=conv.pk, text="我的快递呢")
    AgentStatus.objects.filter(operator=first).update(capacity=5)
    services.claim(actor=first, conversation_id=conv.pk)
    services.send_agent_message(actor=first, conversation_id=conv.pk, text="我来查一下")
    services.add_note(actor=first, conversation_id=conv.pk, text="VIP, be kind")
    before = Message.objects.filter(conversation=conv).count()
    services.transfer(actor=first, conversation_id=conv.pk, to_agent=second)
    conv.refresh_from_db()
    assert conv.assignee_id == second.pk
    # no copies: the same rows, plus one system line saying who took over
    assert Message.objects.filter(conversation=conv).count() == before + 1
    assert Message.objects.filter(conversation=conv, text="我的快递呢").count() == 1
    kinds = list(Handoff.objects.filter(conversation=conv).values_list("kind", flat=True))
    assert kinds == ["claimed", "transferred"]
    assert AgentStatus.objects.get(operator=first).load == 0
    assert AgentStatus.objects.get(operator=second).load == 1
    # the first agent can no longer write there
    with pytest.raises(Forbidden):
        services.send_agent_message(actor=first, conversation_id=conv.pk, text="还在吗")
    # notes are not messages: the member never sees them
    assert not Message.objects.filter(text="VIP, be kind").exists()


def test_close_offers_csat_once_and_reopen_comes_back() -> None:
    queue()
    helper = agent()
    member = factories.member()
    conv = services.open_conversation(member=member)
    services.assign_waiting()
    services.send_agent_message(actor=helper, conversation_id=conv.pk, text="好的")
    with pytest.raises(Conflict):
        services.rate(member=member, conversation_id=conv.pk, rating=5)
    services.close(actor=helper, conversation_id=conv.pk)
    assert AgentStatus.objects.get(operator=helper).load == 0
    with pytest.raises(Conflict):
        services.send_member_message(member=member, conversation_id=conv.pk, text="again")
    with pytest.raises(InvalidInput):
        services.rate(member=member, conversation_id=conv.pk, rating=6)
    csat = services.rate(member=member, conversation_id=conv.pk, rating=4, comment="快")
    assert csat.agent_id == helper.pk
    with pytest.raises(Conflict):
        services.rate(member=member, conversation_id=conv.pk, rating=5)
    services.reopen(actor=helper, conversation_id=conv.pk)
    conv.refresh_from_db()
    assert conv.state == ConversationState.OPEN
    assert conv.assignee_id == helper.pk


def test_an_analyst_cannot_chat() -> None:
    queue()
    analyst = factories.operator_with_role("analyst")
    conv = services.open_conversation(member=factories.member())
    with pytest.raises(Forbidden):
        services.claim(actor=analyst, conversation_id=conv.pk)


def test_quick_replies_shared_and_private() -> None:
    helper = agent()
    manager = agent(role="ops_manager")
    mine = services.save_quick_reply(actor=helper, shortcut="hi", title="Hi", text="您好！")
    with pytest.raises(Forbidden):
        services.save_quick_reply(actor=helper, shortcut="s", title="S", text="x", shared=True)
    shared = services.save_quick_reply(
        actor=manager, shortcut="ship", title="发货", text="48小时内发货", shared=True
    )
    found = list(selectors.quick_replies(helper.pk, "/sh"))
    assert found == [shared]
    assert set(selectors.quick_replies(manager.pk)) == {shared}
    assert mine in selectors.quick_replies(helper.pk)
    queue()
    member = factories.member()
    conv = services.open_conversation(member=member)
    services.claim(actor=helper, conversation_id=conv.pk)
    sent = services.send_agent_message(
        actor=helper,
        conversation_id=conv.pk,
        kind="quick_reply",
        payload={"quick_reply_id": shared.pk},
    ).message
    assert sent.text == "48小时内发货"
    assert sent.kind == MessageKind.QUICK_REPLY
    assert QuickReply.objects.count() == 2


def test_the_wechat_window_allows_five_replies_within_48_hours() -> None:
    queue()
    helper = agent()
    member = factories.member()
    conv = services.open_conversation(member=member, channel=Channel.WECHAT_KF)
    services.claim(actor=helper, conversation_id=conv.pk)
    services.send_member_message(member=member, conversation_id=conv.pk, text="在吗")
    simulator = CustomerServiceSimulator()
    with customer_service.override(simulator):
        for i in range(5):
            services.send_agent_message(actor=helper, conversation_id=conv.pk, text=f"r{i}")
        conv.refresh_from_db()
        assert selectors.wechat_window(conv)["replies_left"] == 0
        with pytest.raises(Conflict) as refused:
            services.send_agent_message(actor=helper, conversation_id=conv.pk, text="r5")
        assert refused.value.code == "wechat_window_closed"
        assert len(simulator.sent) == 5
        # the member writes again: five more
        services.send_member_message(member=member, conversation_id=conv.pk, text="还有")
        services.send_agent_message(actor=helper, conversation_id=conv.pk, text="好")
        # 48 hours later: closed
        Conversation.objects.filter(pk=conv.pk).update(
            wx_last_member_at=timezone.now() - timedelta(hours=48, minutes=1)
        )
        conv.refresh_from_db()
        assert selectors.wechat_window(conv)["open"] is False
        with pytest.raises(Conflict):
            services.send_agent_message(actor=helper, conversation_id=conv.pk, text="late")
    assert not Message.objects.filter(text__in=["r5", "late"]).exists()
