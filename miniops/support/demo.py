"""Demo customer service: queues, quick replies, an SLA calendar and policies,
conversations in every state with realistic messages and ratings, tickets in every
state with a few SLA breaches."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from miniops.core.ledger import LedgerState
from miniops.support.models import (
    AgentState,
    AgentStatus,
    BusinessCalendar,
    Channel,
    Conversation,
    ConversationState,
    Csat,
    Handoff,
    HandoffKind,
    InternalNote,
    Message,
    MessageKind,
    Queue,
    QuickReply,
    SenderKind,
    SlaEvent,
    SlaPolicy,
    Ticket,
    TicketEvent,
    TicketState,
)

STEPS = 5
CONVERSATIONS = 60
TICKETS = 24

QUEUES = [
    ("general", "综合咨询", True),
    ("orders", "订单与物流", False),
    ("after_sales", "售后服务", False),
]
REPLIES = [
    ("hi", "zh-hans", "问候", "您好，我是客服，很高兴为您服务，请问有什么可以帮您？"),
    ("ship", "zh-hans", "发货时间", "订单支付后 48 小时内发货，发货后可在订单详情查看物流。"),
    ("refund", "zh-hans", "退款时效", "退款审核通过后，款项将在 1-3 个工作日原路退回。"),
    ("wait", "zh-hans", "稍等", "好的，我帮您查询一下，请稍等。"),
    ("bye", "zh-hans", "结束语", "感谢您的耐心，祝您生活愉快！如还有问题随时联系我们。"),
    ("hi", "en", "Greeting", "Hello, thanks for reaching out. How can I help you today?"),
    (
        "ship",
        "en",
        "Shipping time",
        "Orders ship within 48 hours of payment; tracking appears on the order page.",
    ),
    (
        "refund",
        "en",
        "Refund time",
        "Once approved, refunds reach your original payment method in 1-3 business days.",
    ),
]
DIALOGUES = [
    [
        "你好，我的快递三天没动了",
        "您好，我帮您查询一下，请稍等。",
        "查到了，包裹在转运中心，预计明天送达。",
        "好的谢谢",
    ],
    [
        "这件衣服有L码吗？",
        "您好，L码目前有货，您可以直接下单。",
        "那颜色会不会有色差",
        "实物与图片基本一致，支持七天无理由退换。",
    ],
    [
        "我想申请退款",
        "您好，请问是哪个订单呢？",
        "就是昨天买的那个",
        "已为您查到，您可以在订单页申请售后，我们会尽快处理。",
    ],
    ["优惠券怎么用不了？", "这张券需要满 199 元才能使用哦。", "哦哦，明白了"],
    [
        "收到的商品有破损",
        "非常抱歉给您带来不便，麻烦拍一下照片发给我。",
        "[图片]",
        "已登记，为您补发一件新的。",
    ],
    ["发票怎么开？", "您好，在订单详情页点击“申请发票”即可。"],
]
TICKET_SUBJECTS = [
    ("delivery", "快递一直不更新"),
    ("complaint", "客服回复太慢"),
    ("refund", "退款还没到账"),
    ("product", "商品与描述不符"),
    ("account", "手机号无法绑定"),
    ("other", "想开具增值税发票"),
]


def clear() -> None:
    SlaEvent.objects.all().delete()
    TicketEvent.objects.all().delete()
    Ticket.objects.all().delete()
    Csat.objects.all().delete()
    Conversation.objects.all().delete()
    QuickReply.objects.all().delete()
    SlaPolicy.objects.all().delete()
    BusinessCalendar.objects.all().delete()
    AgentStatus.objects.all().delete()
    Queue.objects.all().delete()


def _agents() -> list[Any]:
    from miniops.accounts.models import Operator

    agents = list(Operator.objects.filter(username__in=["service", "opsmanager"]).order_by("pk"))
    for i, operator in enumerate(agents):
        AgentStatus.objects.get_or_create(
            operator=operator,
            defaults={"state": AgentState.ONLINE if i == 0 else AgentState.AWAY, "capacity": 6},
        )
    return agents


def seed(*, progress: Callable[[int], object]) -> None:
    if Queue.objects.exists():
        progress(STEPS)
        return
    from miniops.members.models import Member
    from miniops.orders.models import Order

    rng = random.Random(13)
    now = timezone.now()
    with transaction.atomic():
        queues = [
            Queue.objects.create(code=code, name=name, is_default=default, sort=i)
            for i, (code, name, default) in enumerate(QUEUES)
        ]
        for shortcut, language, title, text in REPLIES:
            QuickReply.objects.create(shortcut=shortcut, language=language, title=title, text=text)
        calendar = BusinessCalendar.objects.create(
            name="工作日 9:00-21:00",
            opens=dt.time(9),
            closes=dt.time(21),
            weekdays=[0, 1, 2, 3, 4, 5, 6],
        )
        SlaPolicy.objects.create(
            name="标准",
            first_response_minutes=120,
            next_response_minutes=240,
            resolution_minutes=2880,
            calendar=calendar,
        )
        SlaPolicy.objects.create(
            name="投诉（紧急）",
            category="complaint",
            first_response_minutes=30,
            next_response_minutes=60,
            resolution_minutes=480,
            calendar=calendar,
        )
        agents = _agents()
    progress(1)
    members = list(Member.objects.order_by("pk")[: CONVERSATIONS + TICKETS])
    if not members or not agents:
        progress(STEPS - 1)
        return
    with transaction.atomic():
        loads: dict[int, int] = {}
        for i, member in enumerate(members[:CONVERSATIONS]):
            state = (
                ConversationState.CLOSED
                if i % 5 in (0, 1, 2)
                else ConversationState.OPEN
                if i % 5 == 3
                else ConversationState.WAITING
            )
            if state == ConversationState.OPEN and i > CONVERSATIONS - 15:
                state = ConversationState.CLOSED
            started = now - timedelta(days=rng.randint(0, 13), minutes=rng.randint(5, 600))
            if state != ConversationState.CLOSED:
                started = now - timedelta(minutes=rng.randint(2, 90))
            agent = rng.choice(agents)
            order = Order.objects.filter(member=member).order_by("-created_at").first()
            # every other open one came from WeChat's contact button: replies there
            # go through customerServiceMessage.send, 5 within 48 hours
            wechat = state == ConversationState.OPEN and i % 10 == 8
            conv = Conversation.objects.create(
                member=member,
                channel=Channel.WECHAT_KF if wechat else Channel.IN_APP,
                queue=rng.choice(queues),
                state=state,
                assignee=None if state == ConversationState.WAITING else agent,
                order=order if order and rng.random() < 0.5 else None,
                created_at=started,
                waiting_since=started,
                assigned_at=started + timedelta(seconds=20),
            )
            lines = rng.choice(DIALOGUES)
            if state == ConversationState.WAITING:
                lines = lines[:1]
            moment = started
            messages = []
            for seq, text in enumerate(lines, start=1):
                moment += timedelta(seconds=rng.randint(15, 180))
                member_side = seq % 2 == 1
                messages.append(
                    Message(
                        conversation=conv,
                        seq=seq,
                        sender=SenderKind.MEMBER if member_side else SenderKind.AGENT,
                        agent=None if member_side else agent,
                        kind=MessageKind.TEXT,
                        text=text,
                        created_at=moment,
                        client_id=f"demo-{conv.pk}-{seq}",
                    )
                )
            if state == ConversationState.CLOSED:
                moment += timedelta(minutes=2)
                messages.append(
                    Message(
                        conversation=conv,
                        seq=len(messages) + 1,
                        sender=SenderKind.SYSTEM,
                        kind=MessageKind.SYSTEM,
                        text="本次会话已结束，请为我们的服务评分。",
                        payload={"csat": True},
                        created_at=moment,
                    )
                )
            Message.objects.bulk_create(messages)
            first_reply = next((m.created_at for m in messages if m.sender == "agent"), None)
            Conversation.objects.filter(pk=conv.pk).update(
                last_seq=len(messages),
                last_message_at=moment,
                first_reply_at=first_reply,
                agent_read_seq=len(messages) if state != "waiting" else 0,
                member_read_seq=len(messages),
                closed_at=moment if state == ConversationState.CLOSED else None,
            )
            if wechat:
                last_member = max(m.created_at for m in messages if m.sender == "member")
                Conversation.objects.filter(pk=conv.pk).update(
                    wx_last_member_at=last_member,
                    # one in three has spent WeChat's five replies: the composer
                    # offers a subscribe message instead
                    wx_replies_used=5
                    if i % 30 == 8
                    else sum(
                        1 for m in messages if m.sender == "agent" and m.created_at > last_member
                    ),
                )
            if state != ConversationState.WAITING:
                Handoff.objects.create(
                    conversation=conv,
                    kind=HandoffKind.ASSIGNED,
                    to_agent=agent,
                    at=started + timedelta(seconds=20),
                )
            if state == ConversationState.OPEN:
                loads[agent.pk] = loads.get(agent.pk, 0) + 1
                if i % 10 == 3:
                    InternalNote.objects.create(
                        conversation=conv, author=agent, text="老客户，优先处理"
                    )
            if state == ConversationState.CLOSED and rng.random() < 0.7:
                Csat.objects.create(
                    conversation=conv,
                    agent=agent,
                    rating=rng.choices([5, 4, 3, 2, 1], weights=[55, 25, 10, 6, 4])[0],
                    comment=rng.choice(["", "回复很快", "问题解决了", "态度很好", "等了有点久"]),
                    created_at=moment + timedelta(minutes=1),
                )
        for agent_id, load in loads.items():
            AgentStatus.objects.filter(operator_id=agent_id).update(load=min(load, 6))
    progress(2)
    with transaction.atomic():
        policies = {p.category: p for p in SlaPolicy.objects.all()}
        states = [TicketState.OPEN, TicketState.PENDING, TicketState.RESOLVED, TicketState.CLOSED]
        for i, member in enumerate(members[CONVERSATIONS : CONVERSATIONS + TICKETS]):
            category, subject = TICKET_SUBJECTS[i % len(TICKET_SUBJECTS)]
            ticket_state = states[i % 4]
            created = now - timedelta(days=rng.randint(0, 10), hours=rng.randint(0, 8))
            answered = created + timedelta(minutes=rng.randint(10, 300))
            ticket = Ticket.objects.create(
                member=member,
                category=category,
                subject=subject,
                description="会员反馈：" + subject,
                priority=rng.choice(["normal", "normal", "high", "urgent"]),
                state=ticket_state,
                assignee=agents[0] if i % 3 else None,
                sla_policy=policies.get(category) or policies.get(""),
                created_at=created,
                first_response_at=None if ticket_state == TicketState.OPEN and i % 2 else answered,
                awaiting_since=created if ticket_state == TicketState.OPEN else None,
                resolved_at=answered + timedelta(hours=5)
                if ticket_state in (TicketState.RESOLVED, TicketState.CLOSED)
                else None,
                closed_at=answered + timedelta(days=1)
                if ticket_state == TicketState.CLOSED
                else None,
            )
            TicketEvent.objects.create(
                ticket=ticket,
                kind="created",
                to_state="open",
                by_member=True,
                text=subject,
                at=created,
            )
            if ticket.first_response_at:
                TicketEvent.objects.create(
                    ticket=ticket,
                    kind="reply",
                    actor=agents[0],
                    text="您好，已收到，正在为您处理。",
                    at=answered,
                )
            if ticket_state != TicketState.OPEN:
                TicketEvent.objects.create(
                    ticket=ticket,
                    kind="state",
                    from_state="open",
                    to_state=ticket_state,
                    actor=agents[0],
                    at=answered,
                )
            if i % 5 == 0:
                SlaEvent.objects.create(
                    key=f"demo:{ticket.pk}:first_response:breach",
                    ticket=ticket,
                    metric="first_response",
                    level="breach",
                    state=LedgerState.DONE,
                    reason="told",
                    finished_at=created + timedelta(hours=3),
                )
    progress(STEPS - 2)
