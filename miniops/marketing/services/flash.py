"""Flash sales (秒杀): never oversold, sold-out answered without the database.

With Redis, one Lua script per purchase checks the item's remaining stock and the
member's limit and takes the units atomically (and remembers the request's
Idempotency-Key, so a retry is recognised and sent on to the database to fetch its
stored answer instead of taking more units). Only purchases that pass go on to
place the order, where the database's conditional UPDATE (``sold + n <= stock``)
and the member's purchase row stay the final guard. When the order cannot be
placed, or is later cancelled or times out unpaid, the units go back to Redis and
to the database. Redis configured but unreachable → 503 (fail closed). On the
embedded default (no Redis) the database guard is the whole gate.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core import localcache
from miniops.core.errors import (
    Conflict,
    IllegalTransition,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
)
from miniops.core.redis import get_redis
from miniops.marketing.models import FlashItem, FlashOrder, FlashPurchase, FlashSession

logger = logging.getLogger("miniops.marketing")

GATE = """
local stock = redis.call('GET', KEYS[1])
if not stock then return -2 end
if redis.call('HEXISTS', KEYS[3], ARGV[4]) == 1 then return -4 end
local quantity = tonumber(ARGV[2])
local bought = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if bought + quantity > tonumber(ARGV[3]) then return -3 end
if tonumber(stock) < quantity then return -1 end
redis.call('DECRBY', KEYS[1], quantity)
redis.call('HINCRBY', KEYS[2], ARGV[1], quantity)
redis.call('HSET', KEYS[3], ARGV[4], quantity)
if redis.call('TTL', KEYS[3]) < 0 then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl > 0 then
    redis.call('EXPIRE', KEYS[2], ttl)
    redis.call('EXPIRE', KEYS[3], ttl)
  end
end
return tonumber(stock) - quantity
"""
# Load the gate from the database, only if absent (a running gate is never
# overwritten): ARGV = stock, ttl, then member id / quantity pairs.
LOAD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
if #ARGV > 2 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return 1
"""
RELEASE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[2])
local left = redis.call('HINCRBY', KEYS[2], ARGV[1], -tonumber(ARGV[2]))
if left <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
if ARGV[3] ~= '' then redis.call('HDEL', KEYS[3], ARGV[3]) end
return 1
"""
# What GATE would answer, taking nothing: -1 only when GATE would say sold out.
PEEK = """
local stock = redis.call('GET', KEYS[1])
if not stock then return -2 end
if redis.call('HEXISTS', KEYS[3], ARGV[4]) == 1 then return -4 end
local bought = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if bought + tonumber(ARGV[2]) > tonumber(ARGV[3]) then return -3 end
if tonumber(stock) < tonumber(ARGV[2]) then return -1 end
return 0
"""
SOLD_OUT, LOADED_NOT, LIMIT, REPLAY = -1, -2, -3, -4


@dataclass(frozen=True)
class ItemView:
    """What the purchase path needs to know about an item, cached per process."""

    pk: int
    session_id: int
    sku_id: int
    flash_price: int
    per_member_limit: int
    starts_at: datetime
    ends_at: datetime
    ended_early: bool
    pay_minutes: int


def item_view(item_id: int) -> ItemView:
    def load() -> ItemView | None:
        item = FlashItem.objects.select_related("session").filter(pk=item_id).first()
        if item is None:
            return None
        return ItemView(
            pk=item.pk,
            session_id=item.session_id,
            sku_id=item.sku_id,
            flash_price=item.flash_price,
            per_member_limit=item.per_member_limit,
            starts_at=item.session.starts_at,
            ends_at=item.session.ends_at,
            ended_early=item.session.ended_early_at is not None,
            pay_minutes=item.session.pay_minutes,
        )

    view = localcache.get_or_load(f"flash:item:{item_id}", 2.0, load)
    if view is None:
        raise NotFound(_("No such flash-sale item."))
    return view


def forget(item_ids: list[int]) -> None:
    for item_id in item_ids:
        localcache.forget(f"flash:item:{item_id}")


def _keys(item_id: int) -> list[str]:
    from django.core.cache import cache

    return [
        cache.make_key(f"flash:stock:{item_id}"),
        cache.make_key(f"flash:bought:{item_id}"),
        cache.make_key(f"flash:keys:{item_id}"),
    ]


def load_gate(item_id: int) -> None:
    """Put the item's remaining stock and members' holdings into Redis (only if
    absent: a running gate is never overwritten)."""
    client = get_redis()
    if client is None:
        return
    item = FlashItem.objects.select_related("session").get(pk=item_id)
    stock_key, bought_key, request_key = _keys(item_id)
    ttl = max(3600, int((item.session.ends_at - timezone.now()).total_seconds()) + 86400)
    holdings = dict(
        FlashPurchase.objects.filter(item_id=item_id, quantity__gt=0).values_list(
            "member_id", "quantity"
        )
    )
    args: list[Any] = [item.stock - item.sold, ttl]
    for member_id, quantity in holdings.items():
        args += [member_id, quantity]
    # One script: a purchase can never land between the stock appearing and the
    # holdings being written (it would pass the gate and then be forgotten).
    _script(client, LOAD)(keys=[stock_key, bought_key, request_key], args=args)


def reset_gate(item_id: int) -> None:
    """Rebuild the gate from the database (after the item's stock changed)."""
    localcache.forget(_sold_out_key(item_id))
    client = get_redis()
    if client is None:
        return
    client.delete(*_keys(item_id))
    load_gate(item_id)


def drop_gate(item_id: int) -> None:
    """Remove a deleted item's gate (its keys would otherwise live until they expire)."""
    localcache.forget(_sold_out_key(item_id))
    client = get_redis()
    if client is not None:
        client.delete(*_keys(item_id))


_scripts: dict[tuple[int, str], Any] = {}


def _script(client: Any, source: str) -> Any:
    """A registered script (EVALSHA: the source is sent once per connection pool)."""
    found = _scripts.get((id(client), source))
    if found is None:
        found = _scripts[(id(client), source)] = client.register_script(source)
    return found


def _gate(view: ItemView, member_id: int, quantity: int, key: str) -> int:
    client = get_redis()
    assert client is not None
    keys = _keys(view.pk)
    args = [member_id, quantity, view.per_member_limit, key]
    gate = _script(client, GATE)
    for _attempt in range(2):
        result = int(gate(keys=keys, args=args))
        if result != LOADED_NOT:
            return result
        load_gate(view.pk)
    raise ServiceUnavailable(_("The flash sale is starting; try again."), code="flash_loading")


def _release_gate(item_id: int, member_id: int, quantity: int, key: str = "") -> None:
    localcache.forget(_sold_out_key(item_id))
    client = get_redis()
    if client is None:
        return
    try:
        _script(client, RELEASE)(keys=_keys(item_id), args=[member_id, quantity, key])
    except Exception:  # the gate then undersells until reset; never oversells
        logger.exception("could not give flash item %s back to the gate", item_id)


def sold_out_early(item_id: int, *, authorization: str, key: str, body: bytes) -> bool:
    """True when ``buy`` would certainly answer 409 ``sold_out`` to this request —
    a signed-in member, a well-formed body, the sale running, Redis saying no
    units are left for a request it has not seen (not a retry) from a member
    under their limit — decided with one read-only Redis call and no query. Any
    doubt answers False and the request takes the full path, which gives every
    other answer (401, 422, replays, limits) exactly as before."""
    client = get_redis()
    if client is None or not key or not authorization:
        return False
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(payload, dict) or not set(payload) <= {"quantity", "address_id", "remark"}:
        return False
    quantity, address_id = payload.get("quantity"), payload.get("address_id")
    remark = payload.get("remark", "")
    if (
        type(quantity) is not int
        or type(address_id) is not int
        or not isinstance(remark, str)
        or len(remark) > 200
        or not 1 <= address_id < 2**63
    ):
        return False
    from miniops.members.apiauth import principal_from_header

    principal = principal_from_header(authorization)
    if principal is None:
        return False
    try:
        view = item_view(item_id)
        check_window(view)
    except (NotFound, IllegalTransition):
        return False
    if not 1 <= quantity <= view.per_member_limit:
        return False
    holders = localcache.get(_sold_out_key(item_id))
    if holders is not None:
        # Sold out a moment ago in this process: certain for anyone holding none
        # of the item (a holder may be retrying a purchase that went through).
        return principal.member_id not in holders
    keys = _keys(item_id)
    try:
        answer = _script(client, PEEK)(
            keys=keys, args=[principal.member_id, quantity, view.per_member_limit, key]
        )
        if int(answer) != SOLD_OUT:
            return False
        if quantity == 1:  # nothing at all is left: remember it, with who holds some
            bought = client.hkeys(keys[1])
            localcache.put(
                _sold_out_key(item_id),
                SOLD_OUT_MEMO_SECONDS,
                frozenset(int(member) for member in bought),
            )
    except Exception:  # Redis down: the full path answers 503
        return False
    return True


#: How long a process answers "sold out" from memory; units given back by an
#: unpaid order are on sale again after at most this long (at once in the
#: process that gave them back).
SOLD_OUT_MEMO_SECONDS = 1.0


def _sold_out_key(item_id: int) -> str:
    return f"flash:soldout:{item_id}:"


def _sold_out_in_database(item_id: int, member_id: int, quantity: int) -> bool:
    holding = FlashPurchase.objects.filter(
        item_id=OuterRef("pk"), member_id=member_id, quantity__gt=0
    )
    return (
        FlashItem.objects.filter(pk=item_id, stock__lt=F("sold") + quantity)
        .exclude(Exists(holding))
        .exists()
    )


def check_window(view: ItemView) -> None:
    now = timezone.now()
    if view.ended_early or view.ends_at <= now:
        raise IllegalTransition(_("This flash sale has ended."), code="flash_ended")
    if view.starts_at > now:
        raise IllegalTransition(_("This flash sale has not started yet."), code="flash_not_started")


@dataclass
class Admission:
    """A flash purchase the gate let through, for one member, item, quantity and
    Idempotency-Key. ``holds_units``: the Redis gate took the units for it (a
    replay takes none), so they go back unless the purchase is ``keep()``-ed."""

    view: ItemView
    member_id: int
    quantity: int
    key: str
    holds_units: bool
    kept: bool = False

    @property
    def item_id(self) -> int:
        return self.view.pk

    def keep(self) -> None:
        """The order was placed (or a stored success replayed): the units stay taken."""
        self.kept = True


@contextmanager
def admission(
    *, member_id: int, item_id: int, quantity: int, key: str | None
) -> Iterator[Admission]:
    """Let a flash purchase through the gate, or refuse it: 409 ``sold_out`` or
    ``flash_limit_reached`` (with Redis, one script call and no query), the sale's
    window, the quantity, the Idempotency-Key the gate remembers. Inside the block
    the caller places the order (``place``) and calls ``keep()`` when it went
    through; otherwise — a refusal, an exception — the units go back on exit."""
    admitted = _admit(member_id=member_id, item_id=item_id, quantity=quantity, key=key)
    try:
        yield admitted
    finally:
        if admitted.holds_units and not admitted.kept:
            _release_gate(admitted.item_id, member_id, quantity, admitted.key)


def _admit(*, member_id: int, item_id: int, quantity: int, key: str | None) -> Admission:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise InvalidInput(fields={"quantity": _("At least 1.")})
    view = item_view(item_id)
    check_window(view)
    if quantity > view.per_member_limit:
        raise InvalidInput(fields={"quantity": _("At most %d.") % view.per_member_limit})
    if not key:
        raise InvalidInput(
            _("Send an Idempotency-Key header (a UUID) so a retry cannot create a second order."),
            code="idempotency_key_required",
            fields={"Idempotency-Key": _("required")},
        )
    if get_redis() is None:
        if _sold_out_in_database(view.pk, member_id, quantity):
            # The embedded path: one read instead of an order transaction that the
            # conditional UPDATE would refuse anyway. Holders go on (their attempt
            # may be the retry of a purchase that went through).
            raise Conflict(_("Sold out."), code="sold_out")
        return Admission(view, member_id, quantity, key, holds_units=False)
    try:
        result = _gate(view, member_id, quantity, key)
    except ServiceUnavailable:
        raise
    except Exception as exc:  # Redis down: fail closed
        logger.warning("flash gate unavailable: %s", exc)
        raise ServiceUnavailable(
            _("Flash sales are unavailable for a moment; try again."), code="flash_unavailable"
        ) from exc
    if result == SOLD_OUT:
        raise Conflict(_("Sold out."), code="sold_out")
    if result == LIMIT:
        raise Conflict(_("You have reached the limit for this item."), code="flash_limit_reached")
    # a replay took nothing: nothing to give back
    return Admission(view, member_id, quantity, key, holds_units=result != REPLAY)


def place(admitted: Admission, *, member: Any, address_id: int, remark: str = "") -> Any:
    """The order of an admitted purchase, at the flash price, to be paid within the
    session's minutes; the database guard (``take``) runs in its transaction."""
    from miniops.orders.services import place_order

    view = admitted.view
    return place_order(
        member=member,
        items=[{"sku_id": view.sku_id, "quantity": admitted.quantity}],
        from_cart=False,
        address_id=address_id,
        remark=remark,
        context={"flash_item_id": view.pk, "flash_quantity": admitted.quantity},
        pay_minutes=view.pay_minutes or settings.MINIOPS_FLASH_PAY_MINUTES,
    )


# --- the database guard (order hooks, inside the order's transaction) --------------------
def take(order: Any, item_id: int, quantity: int) -> None:
    """Record the flash units of a new order; refuse beyond stock or the limit."""
    item = FlashItem.objects.filter(pk=item_id).first()
    if item is None:
        raise NotFound(_("No such flash-sale item."))
    taken = FlashItem.objects.filter(pk=item_id, sold__lte=F("stock") - quantity).update(
        sold=F("sold") + quantity
    )
    if not taken:
        raise Conflict(_("Sold out."), code="sold_out")
    purchase, _created = FlashPurchase.objects.get_or_create(
        item_id=item_id, member_id=order.member_id
    )
    held = FlashPurchase.objects.filter(
        pk=purchase.pk, quantity__lte=item.per_member_limit - quantity
    ).update(quantity=F("quantity") + quantity)
    if not held:
        raise Conflict(_("You have reached the limit for this item."), code="flash_limit_reached")
    try:
        with transaction.atomic():
            FlashOrder.objects.create(order=order, item_id=item_id, quantity=quantity)
    except IntegrityError:
        raise Conflict(_("Try again."), code="flash_busy") from None


def give_back(order: Any) -> None:
    """The order was released unpaid: its flash units return to the sale."""
    link = FlashOrder.objects.filter(order=order, released=False).first()
    if link is None:
        return
    if not FlashOrder.objects.filter(pk=link.pk, released=False).update(released=True):
        return
    FlashItem.objects.filter(pk=link.item_id).update(sold=F("sold") - link.quantity)
    FlashPurchase.objects.filter(item_id=link.item_id, member_id=order.member_id).update(
        quantity=F("quantity") - link.quantity
    )
    item_id, member_id, quantity = link.item_id, order.member_id, link.quantity
    transaction.on_commit(lambda: _release_gate(item_id, member_id, quantity))


def end_early(*, session: FlashSession, actor: Any) -> FlashSession:
    from miniops.marketing.services import common

    common.end_early(session, actor=actor, already_ended=_("This flash sale has already ended."))
    forget(list(session.items.values_list("pk", flat=True)))
    return session


def remaining(item: FlashItem) -> int:
    """Units left: from the gate when it is loaded, else from the database."""
    client = get_redis()
    if client is not None:
        try:
            value = client.get(_keys(item.pk)[0])
            if value is not None:
                return max(0, int(value))
        except Exception:
            logger.warning("flash gate unreadable for item %s", item.pk)
    return max(0, item.stock - item.sold)
