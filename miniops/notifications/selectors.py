"""Reads of the push app shared by the API, the console and other apps."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from miniops.notifications.models import Consent, MessageTemplate, PushSettings, TemplateKind


def push_settings() -> PushSettings:
    row, _created = PushSettings.objects.get_or_create(pk=1)
    return row


def reachable_q(template: MessageTemplate) -> Q:
    """Consents that allow a send of ``template`` now."""
    if template.kind == TemplateKind.LONG_TERM:
        return Q(template=template, long_term=True)
    return Q(template=template, remaining__gt=0)


def reachable_count(template: MessageTemplate) -> int:
    return Consent.objects.filter(reachable_q(template)).count()


def reachable_counts() -> dict[int, int]:
    """template id -> members a send can reach now (one query)."""
    rows = (
        Consent.objects.filter(
            Q(template__kind=TemplateKind.ONE_TIME, remaining__gt=0)
            | Q(template__kind=TemplateKind.LONG_TERM, long_term=True)
        )
        .values("template_id")
        .annotate(n=Count("id"))
    )
    return {row["template_id"]: row["n"] for row in rows}


def reachable_member_ids(template: MessageTemplate) -> Any:
    return Consent.objects.filter(reachable_q(template)).values_list("member_id", flat=True)
