from __future__ import annotations

from typing import Any

from miniops.support.models import AgentState, AgentStatus, Queue
from miniops.testing import factories


def agent(*, role: str = "customer_service", capacity: int = 5, online: bool = True) -> Any:
    operator = factories.operator_with_role(role)
    AgentStatus.objects.update_or_create(
        operator=operator,
        defaults={
            "state": AgentState.ONLINE if online else AgentState.OFFLINE,
            "capacity": capacity,
        },
    )
    return operator


def queue(code: str = "general", *, default: bool = True) -> Queue:
    found, _ = Queue.objects.get_or_create(
        code=code, defaults={"name": code.title(), "is_default": default}
    )
    return found
