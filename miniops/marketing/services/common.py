"""Shared pieces of the marketing services."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import models
from django.utils import timezone

from miniops.core import audit
from miniops.core.errors import IllegalTransition

Campaign = TypeVar("Campaign", bound=models.Model)


def end_early(campaign: Campaign, *, actor: Any, already_ended: str) -> Campaign:
    """End a flash session, group buy or time-limited discount now (it gets an
    ``ended_early_at``), with the audit row; refused once it has ended."""
    from miniops.core.permissions import P, require_if_operator

    require_if_operator(actor, P.MARKETING_MANAGE)
    if campaign.status == "ended":  # type: ignore[attr-defined]
        raise IllegalTransition(already_ended)
    type(campaign)._default_manager.filter(pk=campaign.pk).update(ended_early_at=timezone.now())
    campaign.refresh_from_db()
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        instance=campaign,
        changes={"ended_early_at": [None, str(campaign.ended_early_at)]},  # type: ignore[attr-defined]
    )
    return campaign
