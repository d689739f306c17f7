"""A member's "remind me" (a flash sale about to start) and "tell me when it is
back in stock" (a sold-out SKU): a ``Watch`` row each, open until a triggered
campaign (``flash_reminder`` / ``back_in_stock``) plans the member's delivery.

Asking twice is the same request (one open watch per member, kind and ref); the
message itself goes through the campaign's delivery path, with its consent,
quiet hours and caps, exactly once."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core.errors import Conflict, InvalidInput, NotFound
from miniops.notifications.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Consent,
    Trigger,
    Watch,
    WatchKind,
)
from miniops.notifications.selectors import reachable_q

#: open requests a member may hold at once
MAX_OPEN = 100
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


def templates_to_ask(kind: str, member_id: int) -> list[str]:
    """WeChat template ids the mini-program should pass to
    ``wx.requestSubscribeMessage`` so the reminder can be sent: those of the
    running campaigns for this kind that the member has no consent left for."""
    ids = []
    running = Campaign.objects.filter(
        kind=CampaignKind.TRIGGERED,
        trigger=TRIGGER_OF[WatchKind(kind)],
        status=CampaignStatus.RUNNING,
    )
    for campaign in running.select_related("template"):
        template = campaign.template
        if template is None or not template.is_active:
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
