"""Planning deliveries: who of an audience is in the control group (a stable
hash of campaign and member) and writing the ledger rows — shared by campaigns
(audiences, triggers, the tick) and reminder requests (``watches``)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from django.utils import timezone

from miniops.core import experiments, ledger
from miniops.core.ledger import LedgerState
from miniops.core.timeutils import business_tz
from miniops.notifications.models import Campaign, Delivery, Group


def _arms(campaign: Campaign) -> list[tuple[str, float]]:
    return [(str(v["name"]), float(v.get("weight", 1))) for v in campaign.variants or []]


def split(campaign: Campaign, member_id: int) -> tuple[str, str]:
    """(group, variant) of a member: a stable hash of campaign and member."""
    key = f"campaign:{campaign.pk}"
    if campaign.holdout_pct and experiments.in_holdout(key, member_id, campaign.holdout_pct):
        return Group.CONTROL, ""
    arms = _arms(campaign)
    return Group.TREATMENT, experiments.assign(key, member_id, [("A", 1.0), *arms]) if arms else ""


def plan(
    campaign: Campaign,
    member_ids: list[int],
    *,
    occurrence: str = "once",
    context: dict[int, dict[str, Any]] | None = None,
    due_at: datetime | None = None,
) -> dict[str, int]:
    """Delivery rows for ``member_ids``: the control group recorded now as
    ``skipped``/``holdout`` (never messaged), the rest queued. Rows that exist
    (the same occurrence planned twice) are left alone."""
    now = timezone.now()
    rows = []
    counts: Counter[str] = Counter()
    for member_id in member_ids:
        group, variant = split(campaign, member_id)
        counts[group] += 1
        held = group == Group.CONTROL
        rows.append(
            Delivery(
                key=f"{campaign.pk}:{member_id}:{occurrence}",
                campaign=campaign,
                member_id=member_id,
                occurrence=occurrence[:64],
                group=group,
                variant=variant,
                context=(context or {}).get(member_id, {}),
                state=LedgerState.SKIPPED if held else LedgerState.QUEUED,
                reason="holdout" if held else "",
                finished_at=now if held else None,
                due_at=due_at or now,
            )
        )
    created = ledger.enqueue_many(Delivery, rows)
    return {
        "planned": created,
        "treatment": counts[Group.TREATMENT],
        "control": counts[Group.CONTROL],
    }


def local_time(moment: datetime) -> str:
    return moment.astimezone(business_tz()).strftime("%Y年%m月%d日 %H:%M")
