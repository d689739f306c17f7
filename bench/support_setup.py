"""Bench fixture for bench_support.py, run inside Django (``manage.py shell -c``):
members with tokens and open conversations spread over agents with console
sessions. Prints one JSON line. Not imported by the product."""

import json
import os

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db.models import F
from django_otp import DEVICE_ID_SESSION_KEY

from miniops.accounts.models import Operator, Role
from miniops.core.permissions import R
from miniops.members.models import Member
from miniops.support import services
from miniops.support.models import AgentStatus, Conversation, Message, Queue
from miniops.testing import factories

members_n = int(os.environ["BENCH_MEMBERS"])
agents_n = int(os.environ["BENCH_AGENTS"])
Message.objects.all().delete()
Conversation.objects.all().delete()
AgentStatus.objects.all().delete()
Queue.objects.get_or_create(code="general", defaults={"name": "General", "is_default": True})
role = Role.objects.get(code=R.CUSTOMER_SERVICE)
agents = []
for i in range(agents_n):
    op, _ = Operator.objects.get_or_create(username=f"bench-agent-{i}")
    op.roles.set([role])
    op.is_active = True
    op.save()
    AgentStatus.objects.create(operator=op, state="online", capacity=100)
    store = SessionStore()
    store[SESSION_KEY] = str(op.pk)
    store[BACKEND_SESSION_KEY] = "miniops.accounts.backends.OperatorBackend"
    store[HASH_SESSION_KEY] = op.get_session_auth_hash()
    if op.requires_2fa:  # Customer service signs in with TOTP: as if it had passed
        device = op.totpdevice_set.filter(confirmed=True).first() or factories.totp_device(op)
        store[DEVICE_ID_SESSION_KEY] = device.persistent_id
    store.create()
    agents.append({"id": op.pk, "cookie": store.session_key})
out = []
have = Member.objects.filter(openid__startswith="oBENCH").count()
Member.objects.bulk_create(
    [
        Member(openid=f"oBENCH{i:08d}", nickname=f"bench{i}")
        for i in range(have, max(members_n, 1000))
    ]
)
existing = list(Member.objects.filter(openid__startswith="oBENCH").order_by("pk"))
queue = Queue.objects.get(code="general")
convs = Conversation.objects.bulk_create(
    [
        Conversation(member=m, queue=queue, waiting_since=m.registered_at)
        for m in existing[:members_n]
    ]
)
for member, conv in zip(existing[:members_n], convs, strict=True):
    access, _refresh = factories.member_tokens(member)
    out.append({"member": member.pk, "conversation": conv.pk, "token": access})
services.assign_waiting(limit=members_n + 10)
assignee = dict(Conversation.objects.values_list("pk", "assignee_id"))
for row in out:
    row["agent"] = assignee.get(row["conversation"])
AgentStatus.objects.update(load=F("load"))
print("BENCH_JSON " + json.dumps({"agents": agents, "members": out}))
