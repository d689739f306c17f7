"""A member's "remind me" (a flash sale about to start) and "tell me when it is
back in stock" (a sold-out SKU): a ``Watch`` row each, open until a triggered
campaign (``flash_reminder`` / ``back_in_stock``) plans the member's delivery.

Asking twice is the same request (one open watch per member, kind and ref); the
message itself goes through the campaign's delivery path, with its consent,
quiet hours and caps, exactly once.

With several campaigns running for one trigger, each request is answered by
exactly one of them — the first, in answering order (campaigns aimed at an
audience before the general ones, then the oldest), that can reach the member:
the member is in its audience, and holds a consent for its template when it
sends a message. Closing the request and planning its delivery are one
transaction, the close a conditional UPDATE (``notified_at IS NULL``), so a
request is answered once even if two scans race. A request no campaign can
reach stays open; a flash-sale request still open when the sale starts is
closed with the reason (``WatchOutcome``), shown to the member
(``GET /reminders?state=closed``) and to operators (decision 0021)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core import audiences
from miniops.core.errors import Conflict, DomainError, InvalidInput, NotFound
from miniops.notifications.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Consent,
    Trigger,
    Watch,
    WatchKind,
    WatchOutcome,
)
from miniops.notifications.selectors import reachable_q
from miniops.notifications.services.planning import local_time, plan

#: open requests a member may hold at once
MAX_OPEN = 100
#: requests looked at per scan, and flash sales per scan
SCAN_WATCHES = 50_000
SCAN_SESSIONS = 200
TRIGGER_OF = {
    WatchKind.FLASH_SESSION: Trigger.FLASH_REMINDER,
    WatchKind.BACK_IN_STOCK: Trigger.BACK_IN_STOCK,
}


def _check_target(kind: str, ref: int) -> None:
    now = timezone.now()
    if kind == WatchKind.FLASH_SESSION:
        from miniops.marketing.models import FlashSession

        session = FlashSession.objects.filter(pk=ref).first()
        if session is None:
            raise NotFound(_("No such flash sale."), code="flash_session_not_found")
        if session.starts_at <= now or session.ended_early_at is not None:
            raise Conflict(_("This flash sale has already started."), code="already_started")
        return
    from miniops.catalog.models import ProductStatus, Sku

    sku = Sku.objects.select_related("product").filter(pk=ref).first()
    if sku is None or not sku.is_active or sku.product.status == ProductStatus.DRAFT:
        raise NotFound(_("No such product."), code="sku_not_found")
    if sku.stock > 0 and sku.product.status == ProductStatus.ON_SALE:
        raise Conflict(_("This product is in stock: buy it now."), code="in_stock")


def running(kind: str) -> list[Campaign]:
    """The running campaigns answering ``kind`` requests, in answering order:
    those aimed at an audience first (a targeted reminder, perhaps with its own
    coupon, beats the general one), then the oldest."""
    rows = Campaign.objects.filter(
        kind=CampaignKind.TRIGGERED,
        trigger=TRIGGER_OF[WatchKind(kind)],
        status=CampaignStatus.RUNNING,
    ).select_related("template")
    return sorted(rows, key=lambda c: (not c.audience, c.pk))


def _in_audience(campaign: Campaign, member_id: int) -> bool:
    if not campaign.audience:
        return True
    try:
        return audiences.contains(campaign.audience, member_id)
    except DomainError:  # the segment was archived: the campaign reaches nobody
        return False


def templates_to_ask(kind: str, member_id: int) -> list[str]:
    """WeChat template ids the mini-program should pass to
    ``wx.requestSubscribeMessage`` so the reminder can be sent: those of the
    running campaigns for this kind whose audience holds the member and that the
    member has no consent left for."""
    ids = []
    for campaign in running(kind):
        template = campaign.template
        if template is None or not template.is_active:
            continue
        if not _in_audience(campaign, member_id):
            continue
        if not Consent.objects.filter(reachable_q(template), member_id=member_id).exists():
            ids.append(template.wx_template_id)
    return sorted(set(ids))


def watch(*, member: Any, kind: str, ref: int) -> Watch:
    """Open (or return the open) request of ``member`` for ``kind`` × ``ref``."""
    if kind not in WatchKind.values:
        raise InvalidInput(fields={"kind": _("flash_session or back_in_stock.")})
    if isinstance(ref, bool) or not isinstance(ref, int) or not 0 < ref < 2**63:
        raise InvalidInput(fields={"ref": _("The id of a flash sale or a SKU.")})
    _check_target(kind, ref)
    existing = Watch.objects.filter(
        member=member, kind=kind, ref=ref, notified_at__isnull=True
    ).first()
    if existing is not None:
        return existing
    if Watch.objects.filter(member=member, notified_at__isnull=True).count() >= MAX_OPEN:
        raise Conflict(_("Too many open reminders; cancel some first."), code="too_many_reminders")
    try:
        with transaction.atomic():
            return Watch.objects.create(member=member, kind=kind, ref=ref)
    except IntegrityError:  # the same request racing itself
        return Watch.objects.get(member=member, kind=kind, ref=ref, notified_at__isnull=True)


def unwatch(*, member: Any, watch_id: int) -> None:
    """Cancel an open request of the member's own (a planned one stays on record)."""
    deleted, _rows = Watch.objects.filter(
        pk=watch_id, member=member, notified_at__isnull=True
    ).delete()
    if not deleted:
        raise NotFound(_("No such open reminder."), code="reminder_not_found")


def open_watches(member_id: int) -> list[Watch]:
    return list(
        Watch.objects.filter(member_id=member_id, notified_at__isnull=True).order_by("-pk")[
            :MAX_OPEN
        ]
    )


def closed_watches(member_id: int) -> list[Watch]:
    """The member's latest closed requests, answered or not (with the reason)."""
    return list(
        Watch.objects.filter(member_id=member_id, notified_at__isnull=False).order_by(
            "-notified_at", "-pk"
        )[:MAX_OPEN]
    )


# --- answering the requests (the minute tick) ---------------------------------------------
class _Reach:
    """Which of ``members`` each campaign can reach: in its audience (asked once
    per campaign), with a consent for its template when it sends a message."""

    def __init__(self, campaigns: list[Campaign], members: Iterable[int]) -> None:
        wanted = set(members)
        self.inside: dict[int, set[int] | None] = {}
        self.consented: dict[int, set[int]] = {}
        for campaign in campaigns:
            if not campaign.audience:
                self.inside[campaign.pk] = None
            else:
                try:
                    self.inside[campaign.pk] = wanted & set(audiences.member_ids(campaign.audience))
                except DomainError:
                    self.inside[campaign.pk] = set()
            template = campaign.template
            if template is not None and template.pk not in self.consented:
                self.consented[template.pk] = (
                    set(
                        Consent.objects.filter(reachable_q(template)).values_list(
                            "member_id", flat=True
                        )
                    )
                    if template.is_active
                    else set()
                )

    def holds(self, campaign: Campaign, member_id: int) -> bool:
        inside = self.inside[campaign.pk]
        return inside is None or member_id in inside

    def reaches(self, campaign: Campaign, member_id: int) -> bool:
        if not self.holds(campaign, member_id):
            return False
        return campaign.template is None or member_id in self.consented[campaign.template.pk]

    def why_not(self, campaigns: list[Campaign], member_id: int) -> str:
        """The reason no campaign of ``campaigns`` answered the member."""
        if not campaigns:
            return WatchOutcome.NO_CAMPAIGN
        if any(self.holds(c, member_id) for c in campaigns):
            return WatchOutcome.NO_CONSENT
        return WatchOutcome.NOT_IN_AUDIENCE


def _open(kind: str, refs: list[int]) -> list[Watch]:
    if not refs:
        return []
    return list(
        Watch.objects.filter(kind=kind, ref__in=refs, notified_at__isnull=True).order_by("pk")[
            :SCAN_WATCHES
        ]
    )


def _answer(
    row: Watch, candidates: list[Campaign], reach: _Reach, context: dict[str, Any], now: datetime
) -> int:
    """Plan ``row``'s one delivery with the first candidate that reaches the
    member, closing the request in the same transaction; a request already
    closed (a racing scan) plans nothing. Returns the rows planned (0 or 1)."""
    chosen = next((c for c in candidates if reach.reaches(c, row.member_id)), None)
    if chosen is None:
        return 0  # stays open: a campaign that reaches the member may come
    with transaction.atomic():
        closed = Watch.objects.filter(pk=row.pk, notified_at__isnull=True).update(
            notified_at=now, outcome=WatchOutcome.PLANNED, campaign=chosen
        )
        if not closed:
            return 0
        return plan(
            chosen, [row.member_id], occurrence=row.occurrence, context={row.member_id: context}
        )["planned"]


def scan_flash_reminders(now: datetime | None = None) -> int:
    """Each open request for a flash sale that enters a running campaign's window
    (N minutes before the start) is answered by one campaign whose window holds
    it and that reaches the member; requests still open when the sale starts are
    closed with the reason. Returns the delivery rows planned."""
    from miniops.marketing.models import FlashSession

    now = now or timezone.now()
    campaigns = running(WatchKind.FLASH_SESSION)
    total = 0
    if campaigns:
        lead = {c.pk: timedelta(minutes=max(1, c.trigger_value)) for c in campaigns}
        sessions = {
            s.pk: s
            for s in FlashSession.objects.filter(
                starts_at__gt=now,
                starts_at__lte=now + max(lead.values()),
                ended_early_at__isnull=True,
            ).order_by("starts_at", "pk")[:SCAN_SESSIONS]
        }
        rows = _open(WatchKind.FLASH_SESSION, list(sessions))
        reach = _Reach(campaigns, {row.member_id for row in rows})
        for row in rows:
            session = sessions[row.ref]
            candidates = [c for c in campaigns if session.starts_at <= now + lead[c.pk]]
            context = {"product": session.name[:20], "date": local_time(session.starts_at)}
            total += _answer(row, candidates, reach, context, now)
    close_missed_flash(now, campaigns)
    return total


def close_missed_flash(now: datetime, campaigns: list[Campaign]) -> int:
    """Requests for flash sales that started (or were called off, or deleted)
    while still open: closed with why no campaign answered them."""
    from miniops.marketing.models import FlashSession

    refs = list(
        Watch.objects.filter(kind=WatchKind.FLASH_SESSION, notified_at__isnull=True)
        .values_list("ref", flat=True)
        .distinct()[:10_000]
    )
    if not refs:
        return 0
    sessions = FlashSession.objects.filter(pk__in=refs)
    upcoming = set(
        sessions.filter(starts_at__gt=now, ended_early_at__isnull=True).values_list("pk", flat=True)
    )
    started = set(sessions.filter(starts_at__lte=now).values_list("pk", flat=True))
    gone = set(refs) - upcoming - started  # called off before the start, or deleted
    rows = _open(WatchKind.FLASH_SESSION, sorted(started | gone))
    if not rows:
        return 0
    reach = _Reach(campaigns, {row.member_id for row in rows})
    by_reason: dict[str, list[int]] = {}
    for row in rows:
        reason = WatchOutcome.ENDED if row.ref in gone else reach.why_not(campaigns, row.member_id)
        by_reason.setdefault(reason, []).append(row.pk)
    closed = 0
    for reason, pks in by_reason.items():
        closed += Watch.objects.filter(pk__in=pks, notified_at__isnull=True).update(
            notified_at=now, outcome=reason
        )
    return closed


def scan_back_in_stock(now: datetime | None = None) -> int:
    """Each open request for a SKU on sale with stock again is answered by one
    running campaign that reaches the member; the others stay open (until a
    campaign reaches them, the member cancels, or it sells out again and comes
    back). Returns the delivery rows planned."""
    from miniops.catalog.models import ProductStatus, Sku

    now = now or timezone.now()
    campaigns = running(WatchKind.BACK_IN_STOCK)
    if not campaigns:
        return 0
    waiting = (
        Watch.objects.filter(kind=WatchKind.BACK_IN_STOCK, notified_at__isnull=True)
        .values_list("ref", flat=True)
        .distinct()
    )
    skus = Sku.objects.filter(
        Q(pk__in=list(waiting[:10_000])),
        stock__gt=0,
        is_active=True,
        product__status=ProductStatus.ON_SALE,
    ).select_related("product")
    targets = {sku.pk: {"product": sku.product.title[:20]} for sku in skus}
    rows = _open(WatchKind.BACK_IN_STOCK, list(targets))
    reach = _Reach(campaigns, {row.member_id for row in rows})
    return sum(_answer(row, campaigns, reach, targets[row.ref], now) for row in rows)
