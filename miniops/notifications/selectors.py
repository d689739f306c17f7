"""Reads of the push app shared by the API, the console and other apps."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from miniops.notifications.models import Consent, MessageTemplate, PushSettings, TemplateKind


def audience_label(key: str) -> str:
    """``core.audiences.describe``'s label of ``key`` (“Segment: 新客”); “—” for
    none (a trigger's member), the key itself when the audience no longer exists."""
    from miniops.core import audiences
    from miniops.core.errors import DomainError

    if not key:
        return "—"
    try:
        return str(audiences.describe(key).label)
    except DomainError:
        return key


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


def task_view(now: Any = None) -> dict[str, Any]:
    """What is scheduled, running and waiting: for the operators' task page."""
    from datetime import timedelta

    from django.utils import timezone

    from miniops.core.ledger import PENDING, LedgerState
    from miniops.marketing.models import FlashSession, Group, GroupStatus
    from miniops.notifications.models import Campaign, CampaignStatus, Delivery
    from miniops.orders.models import Order, OrderStatus

    now = now or timezone.now()
    soon = now + timedelta(hours=24)
    due = list(
        Campaign.objects.filter(status=CampaignStatus.SCHEDULED, next_run_at__lte=soon).order_by(
            "next_run_at"
        )[:50]
    )
    running = list(
        Campaign.objects.filter(status__in=[CampaignStatus.RUNNING, CampaignStatus.PAUSED])
        .annotate(
            depth=Count(
                "deliveries",
                filter=Q(deliveries__state__in=[LedgerState.QUEUED, LedgerState.CLAIMED]),
            )
        )
        .order_by("-depth", "pk")[:50]
    )
    deferred = Delivery.objects.filter(state=LedgerState.QUEUED, reason="quiet_hours").count()
    since = now - timedelta(hours=24)
    failed = list(
        Delivery.objects.filter(
            Q(state=LedgerState.FAILED) | Q(state=LedgerState.DOUBT), updated_at__gte=since
        )
        .values("state", "reason")
        .annotate(n=Count("id"))
        .order_by("-n")[:30]
    )
    unpaid = Order.objects.filter(
        status=OrderStatus.UNPAID, expires_at__gt=now, expires_at__lte=now + timedelta(hours=1)
    )
    groups = Group.objects.filter(
        status=GroupStatus.FORMING, expires_at__gt=now, expires_at__lte=soon
    )
    flash = FlashSession.objects.filter(starts_at__gt=now, starts_at__lte=soon).order_by(
        "starts_at"
    )
    return {
        "due": due,
        "running": running,
        "pending_total": Delivery.objects.filter(PENDING).count(),
        "deferred": deferred,
        "failed": failed,
        "unpaid_count": unpaid.count(),
        "unpaid_next": list(unpaid.order_by("expires_at").values("number", "expires_at")[:10]),
        "groups_count": groups.count(),
        "groups_next": list(groups.order_by("expires_at").values("code", "expires_at")[:10]),
        "flash": list(flash.values("name", "starts_at")[:10]),
    }


def member_push(member_id: int, *, limit: int = 10) -> dict[str, Any]:
    """One member's consents, latest deliveries and open reminder requests (the
    member-360 card)."""
    from miniops.notifications.models import Delivery, Watch

    return {
        "consents": list(
            Consent.objects.filter(member_id=member_id)
            .select_related("template")
            .order_by("template__title", "pk")[:50]
        ),
        "deliveries": list(
            Delivery.objects.filter(member_id=member_id)
            .select_related("campaign")
            .order_by("-created_at", "-pk")[:limit]
        ),
        "watches": list(
            Watch.objects.filter(member_id=member_id, notified_at__isnull=True).order_by("-pk")[
                :limit
            ]
        ),
    }


# --- reminder requests (the operators' page) --------------------------------------------------
def _reminder_targets(pairs: set[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
    """A label, a time and a console link for each (kind, ref) a request names."""
    from miniops.catalog.models import Sku
    from miniops.marketing.models import FlashSession
    from miniops.notifications.models import WatchKind

    flash = [ref for kind, ref in pairs if kind == WatchKind.FLASH_SESSION]
    skus = [ref for kind, ref in pairs if kind == WatchKind.BACK_IN_STOCK]
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for session in FlashSession.objects.filter(pk__in=flash):
        found[(WatchKind.FLASH_SESSION, session.pk)] = {
            "label": session.name,
            "when": session.starts_at,
            "admin": ("marketing_flashsession_change", session.pk),
        }
    for sku in Sku.objects.filter(pk__in=skus).select_related("product"):
        found[(WatchKind.BACK_IN_STOCK, sku.pk)] = {
            "label": f"{sku.product.title} · {sku.code}" if sku.code else sku.product.title,
            "when": None,
            "stock": sku.stock,
            "admin": ("catalog_product_change", sku.product_id),
        }
    return found


def reminder_summary(*, kind: str = "", limit: int = 100) -> list[dict[str, Any]]:
    """Per flash sale / SKU that members asked about: open requests, answered
    ones and those closed without a message, the targets with open requests
    first (most first), then the latest."""
    from django.db.models import Max

    from miniops.notifications.models import Watch, WatchOutcome

    rows = Watch.objects.all()
    if kind:
        rows = rows.filter(kind=kind)
    grouped = list(
        rows.values("kind", "ref")
        .annotate(
            open=Count("id", filter=Q(notified_at__isnull=True)),
            answered=Count("id", filter=Q(outcome=WatchOutcome.PLANNED)),
            not_sent=Count(
                "id", filter=Q(notified_at__isnull=False) & ~Q(outcome=WatchOutcome.PLANNED)
            ),
            latest=Max("created_at"),
        )
        .order_by("-open", "-latest", "kind", "ref")[:limit]
    )
    targets = _reminder_targets({(g["kind"], g["ref"]) for g in grouped})
    return [{**g, "target": targets.get((g["kind"], g["ref"]))} for g in grouped]


def reminder_requests(*, kind: str, ref: int, limit: int = 200) -> list[Any]:
    """The requests for one flash sale / SKU, open ones first, newest first."""
    from django.db.models import F

    from miniops.notifications.models import Watch

    return list(
        Watch.objects.filter(kind=kind, ref=ref)
        .select_related("member", "campaign")
        .order_by(F("notified_at").desc(nulls_first=True), "-created_at", "-pk")[:limit]
    )


def reminder_target(kind: str, ref: int) -> dict[str, Any] | None:
    return _reminder_targets({(kind, ref)}).get((kind, ref))
