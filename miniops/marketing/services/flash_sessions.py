"""Setting up flash sales: sessions and their items.

The rules live here, not in the console's forms (which show them on their
fields by calling ``validate_session`` and ``validate_item``): a flash price above
0 and below the SKU's price, a per-member limit of 1 to 99, 1 to 60 minutes to
pay, stock never below what is already sold, a session's start fixed once it
has begun, nothing changed once it has ended. Every change is audited with the
operator (django-auditlog, inside ``acting_as``), and the Redis gate of every
item whose stock or window moved is rebuilt after the transaction commits, so a
purchase never meets a gate loaded from data that was rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.catalog.models import Sku
from miniops.core import audit
from miniops.core.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from miniops.core.permissions import P, require_if_operator
from miniops.marketing.models import FlashItem, FlashOrder, FlashSession
from miniops.marketing.services import flash

logger = logging.getLogger("miniops.marketing")

MAX_NAME = 80
MAX_PAY_MINUTES = 60
MAX_PER_MEMBER = 99
MAX_ITEMS = 50
MAX_STOCK = 10_000_000
ITEM_FIELDS = ["sku", "flash_price", "stock", "per_member_limit"]


@dataclass(frozen=True)
class ItemIn:
    """One item as the caller wants it: ``id`` names an existing item of the session."""

    sku: Sku
    flash_price: int
    stock: int
    per_member_limit: int = 1
    id: int | None = None


def _whole(value: Any, low: int, high: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and low <= value <= high


# --- rules ---------------------------------------------------------------------------------
def validate_session(session: FlashSession) -> None:
    """A session's own rules (its name, window and time to pay), field by field."""
    errors: dict[str, Any] = {}
    if not 1 <= len((session.name or "").strip()) <= MAX_NAME:
        errors["name"] = _("1 to %d characters.") % MAX_NAME
    starts_at, ends_at = session.starts_at, session.ends_at
    if not isinstance(starts_at, datetime) or timezone.is_naive(starts_at):
        errors["starts_at"] = _("A date and time.")
    if not isinstance(ends_at, datetime) or timezone.is_naive(ends_at):
        errors["ends_at"] = _("A date and time.")
    elif isinstance(starts_at, datetime) and ends_at <= starts_at:
        errors["ends_at"] = _("The end is before the start.")
    if not _whole(session.pay_minutes, 1, MAX_PAY_MINUTES):
        errors["pay_minutes"] = _("Between 1 and 60 minutes.")
    if errors:
        raise InvalidInput(fields=errors)


def validate_item(item: FlashItem) -> None:
    """An item's own rules, field by field. ``item.sold`` is what the database
    holds (0 for a new item)."""
    errors: dict[str, Any] = {}
    sku = item.sku if item.sku_id else None
    if sku is None:
        errors["sku"] = _("Choose a SKU.")
    price = item.flash_price
    if not _whole(price, 1, 10**12) or (sku is not None and price >= sku.price):
        errors["flash_price"] = _("Above 0 and below the SKU's price.")
    if not _whole(item.stock, 0, MAX_STOCK):
        errors["stock"] = _("Between 0 and %d.") % MAX_STOCK
    elif item.stock < (item.sold or 0):
        errors["stock"] = _("Not below what is already sold.")
    elif item.pk is None and item.stock < 1:
        errors["stock"] = _("At least 1.")
    if not _whole(item.per_member_limit, 1, MAX_PER_MEMBER):
        errors["per_member_limit"] = _("Between 1 and 99.")
    if errors:
        raise InvalidInput(fields=errors)


def _item_error(index: int, exc: InvalidInput) -> InvalidInput:
    """Item errors keyed ``items.<n>.<field>``, with a message a page can show."""
    detail = "; ".join(str(message) for message in exc.fields.values())
    return InvalidInput(
        _("Item %(n)d: %(detail)s") % {"n": index + 1, "detail": detail},
        fields={f"items.{index}.{field}": message for field, message in exc.fields.items()},
    )


# --- after commit: the gate ----------------------------------------------------------------
def _after_commit(*, touched: list[int], reload: list[int], dropped: list[int]) -> None:
    """Forget the cached views of every item touched; rebuild the gate of those
    whose stock or window changed; remove the gate of removed items."""

    def run() -> None:
        flash.forget(touched + dropped)
        for item_id in reload:
            try:
                flash.reset_gate(item_id)
            except Exception:  # the database guard still holds; the gate reloads on demand
                logger.exception("could not rebuild the gate of flash item %s", item_id)
        for item_id in dropped:
            try:
                flash.drop_gate(item_id)
            except Exception:
                logger.exception("could not remove the gate of flash item %s", item_id)

    transaction.on_commit(run)


# --- sessions ------------------------------------------------------------------------------
@transaction.atomic
def create_session(
    *,
    actor: Any,
    name: str,
    starts_at: datetime,
    ends_at: datetime,
    pay_minutes: int = 5,
    items: Sequence[ItemIn] = (),
) -> FlashSession:
    require_if_operator(actor, P.MARKETING_MANAGE)
    session = FlashSession(
        name=(name or "").strip(), starts_at=starts_at, ends_at=ends_at, pay_minutes=pay_minutes
    )
    validate_session(session)
    if session.ends_at <= timezone.now():
        raise InvalidInput(fields={"ends_at": _("The end must be in the future.")})
    if any(item.id is not None for item in items):
        raise InvalidInput(fields={"items": _("A new flash sale has no items yet.")})
    with audit.acting_as(actor):
        session.save()
        created = list(_save_items(session, items, existing={}))
    _after_commit(touched=created, reload=created, dropped=[])
    return session


@transaction.atomic
def update_session(
    *,
    session: FlashSession,
    actor: Any,
    name: str,
    starts_at: datetime,
    ends_at: datetime,
    pay_minutes: int,
    items: Sequence[ItemIn] | None = None,
) -> FlashSession:
    """Change a session and (when ``items`` is given) make its items exactly
    ``items``: those with an ``id`` are changed, the others added, the missing
    ones removed (only before the sale starts and while none is sold)."""
    require_if_operator(actor, P.MARKETING_MANAGE)
    stored = FlashSession.objects.select_for_update().filter(pk=session.pk).first()
    if stored is None:
        raise NotFound(_("No such flash sale."))
    status = stored.status
    if status == "ended":
        raise IllegalTransition(_("This flash sale has ended; it can no longer be changed."))
    changed = FlashSession(
        pk=stored.pk,
        name=(name or "").strip(),
        starts_at=starts_at,
        ends_at=ends_at,
        pay_minutes=pay_minutes,
        ended_early_at=stored.ended_early_at,
        created_at=stored.created_at,
    )
    validate_session(changed)
    # Forms send whole seconds: a time equal to the second is the time kept.
    for field in ("starts_at", "ends_at"):
        if _same_second(getattr(changed, field), getattr(stored, field)):
            setattr(changed, field, getattr(stored, field))
    if status == "running" and changed.starts_at != stored.starts_at:
        raise IllegalTransition(
            _("The sale has started; its start cannot move."), fields={"starts_at": _("Fixed.")}
        )
    if changed.ends_at != stored.ends_at and changed.ends_at <= timezone.now():
        raise InvalidInput(fields={"ends_at": _("The end must be in the future.")})
    window_moved = (changed.starts_at, changed.ends_at) != (stored.starts_at, stored.ends_at)
    fields = ["name", "starts_at", "ends_at", "pay_minutes"]
    for field in fields:
        setattr(stored, field, getattr(changed, field))
    existing = {item.pk: item for item in stored.items.select_for_update().order_by("pk")}
    with audit.acting_as(actor):
        stored.save(update_fields=fields)
        if items is None:
            reload = list(existing) if window_moved else []
            _after_commit(touched=list(existing), reload=reload, dropped=[])
            return stored
        wanted = {item.id for item in items if item.id is not None}
        unknown = wanted - set(existing)
        if unknown:
            raise InvalidInput(
                fields={"items": _("Not an item of this sale: %s") % sorted(unknown)}
            )
        dropped = [pk for pk in existing if pk not in wanted]
        _remove_items([existing[pk] for pk in dropped], status=status)
        kept = {pk: item for pk, item in existing.items() if pk in wanted}
        saved = _save_items(stored, items, existing=kept)
    reload = [pk for pk, stock_moved in saved.items() if stock_moved or window_moved]
    _after_commit(touched=list(saved), reload=reload, dropped=dropped)
    return stored


def _same_second(one: datetime, other: datetime) -> bool:
    return one.replace(microsecond=0) == other.replace(microsecond=0)


def _save_items(
    session: FlashSession, items: Sequence[ItemIn], *, existing: dict[int, FlashItem]
) -> dict[int, bool]:
    """Create or change the items (inside the caller's ``acting_as``); returns
    ``{item id: whether it is new or its stock changed}``."""
    if len(items) > MAX_ITEMS:
        raise InvalidInput(fields={"items": _("At most %d items per sale.") % MAX_ITEMS})
    seen: dict[int, int] = {}
    for index, wanted in enumerate(items):
        sku_id = getattr(wanted.sku, "pk", None)
        if sku_id in seen:
            raise InvalidInput(
                _("Item %(n)d: this SKU is already item %(other)d.")
                % {"n": index + 1, "other": seen[sku_id] + 1},
                fields={f"items.{index}.sku": _("Once per sale.")},
            )
        if sku_id is not None:
            seen[sku_id] = index
    saved: dict[int, bool] = {}
    for index, wanted in enumerate(items):
        item = existing.get(wanted.id) if wanted.id is not None else None
        stock_before = item.stock if item is not None else None
        if item is None:
            item = FlashItem(session=session)
        elif getattr(wanted.sku, "pk", None) != item.sku_id and _has_orders(item):
            raise Conflict(
                _("Item %d has orders: its SKU cannot change.") % (index + 1),
                fields={f"items.{index}.sku": _("It has orders.")},
            )
        if wanted.sku is None:
            raise _item_error(index, InvalidInput(fields={"sku": _("Choose a SKU.")}))
        if (item.pk is None or wanted.sku.pk != item.sku_id) and not wanted.sku.is_active:
            raise InvalidInput(
                _("Item %d: this SKU is not available.") % (index + 1),
                fields={f"items.{index}.sku": _("Not available.")},
            )
        item.sku = wanted.sku
        item.flash_price = wanted.flash_price
        item.stock = wanted.stock
        item.per_member_limit = wanted.per_member_limit
        try:
            validate_item(item)
        except InvalidInput as exc:
            raise _item_error(index, exc) from None
        try:
            with transaction.atomic():
                if item.pk is None:
                    item.save()
                else:  # ``sold`` moves with every purchase: never written from here
                    item.save(update_fields=ITEM_FIELDS)
        except IntegrityError:  # two items swapping their SKUs, or a concurrent edit
            raise Conflict(
                _("Item %d: this SKU is already in the sale.") % (index + 1),
                fields={f"items.{index}.sku": _("Once per sale.")},
            ) from None
        saved[item.pk] = stock_before != item.stock
    return saved


def _has_orders(item: FlashItem) -> bool:
    return bool(item.sold) or FlashOrder.objects.filter(item=item).exists()


def _remove_items(items: list[FlashItem], *, status: str) -> None:
    for item in items:
        if status != "upcoming" or _has_orders(item):
            raise Conflict(
                _(
                    "An item can be removed only before the sale starts and while none is "
                    "sold; set its stock to what is sold instead."
                ),
                fields={"items": _("Cannot be removed.")},
            )
        item.delete()


@transaction.atomic
def delete_session(*, session: FlashSession, actor: Any) -> None:
    """Delete a sale that sold nothing and is not running (a mistake, a test)."""
    require_if_operator(actor, P.MARKETING_MANAGE)
    stored = FlashSession.objects.select_for_update().filter(pk=session.pk).first()
    if stored is None:
        raise NotFound(_("No such flash sale."))
    items = list(stored.items.select_for_update())
    if stored.status == "running" or any(_has_orders(item) for item in items):
        raise Conflict(_("A running flash sale, or one with orders, cannot be deleted; end it."))
    item_ids = [item.pk for item in items]
    with audit.acting_as(actor):
        for item in items:
            item.delete()
        stored.delete()
    _after_commit(touched=[], reload=[], dropped=item_ids)
