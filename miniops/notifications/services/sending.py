"""The delivery engine: claim due deliveries, send each at most once.

One ``Delivery`` row per campaign × member × occurrence (``core.ledger``), claimed
with ``SKIP LOCKED`` on PostgreSQL (a conditional UPDATE on SQLite), so any number
of workers share the queue without sending a row twice. For each row, in order:

1. quiet hours (business time zone): deferred to the window's end, or dropped;
2. the coupon, when the campaign gives one (issued once: its id is kept on the row);
3. the message's fields rendered and checked against WeChat's rules (a value
   WeChat would refuse fails the row with the field named, and is never sent);
4. slots of the shared outbound budget for a chunk of rows at once
   (``core.throttling.acquire_many``: one window for every worker, in Redis);
5. in one transaction per chunk, the chunk's members' rows locked: the frequency
   caps (per day and per week, across campaigns; one grouped query), ``sent_at``
   stamped on the rows still held, and the consents taken by one conditional
   ``UPDATE … RETURNING`` — a one-time consent only while ``remaining > 0``, so
   two campaigns racing for one consent send once;
6. the chunk's sends, on a pool of HTTP threads (``MINIOPS_PUSH_THREADS``), while
   the next chunk's transaction runs; its successes finished by one UPDATE.
   WeChat's answer decides: success → ``done``/``sent``; 43101 →
   consent gone, ``failed``; 47003 and the other final errors → ``failed`` with
   the reason; busy or rate-limited (an explicit answer: nothing was sent) →
   consent given back and retried with back-off and jitter; no answer (a time-out,
   a broken connection: it may have reached WeChat) → ``doubt``, never repeated
   blindly. A worker that dies mid-send leaves its rows to ``recover``: those
   stamped (at most two chunks, ``2 × MINIOPS_PUSH_THREADS``) become ``doubt``,
   the rest go back to the queue.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from miniops.core import ledger, throttling
from miniops.core.ledger import Final, LedgerState, Retry
from miniops.core.timeutils import business_tz
from miniops.core.wechat import BUSY, RATE_LIMITED, PlatformError
from miniops.members.models import Member
from miniops.notifications import rules
from miniops.notifications.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Consent,
    Delivery,
    MessageTemplate,
    PushSettings,
    QuietPolicy,
    TemplateKind,
)
from miniops.notifications.providers import (
    BAD_FIELD,
    BAD_OPENID,
    BAD_PAGE,
    BAD_TEMPLATE,
    NO_CONSENT,
    subscribe_provider,
)

logger = logging.getLogger("miniops.notifications")

MAX_ATTEMPTS = 6
FINAL_REASONS = {
    NO_CONSENT: "no_consent_wechat",
    BAD_FIELD: "invalid_field",
    BAD_OPENID: "bad_openid",
    BAD_TEMPLATE: "bad_template",
    BAD_PAGE: "bad_page",
}


def send_rate() -> str:
    """The outbound budget for subscribe messages, shared by every worker."""
    return str(settings.MINIOPS_PUSH_RATE)


def lease() -> timedelta:
    return timedelta(seconds=int(settings.MINIOPS_PUSH_LEASE_SECONDS))


# --- quiet hours ------------------------------------------------------------------------
def quiet_until(moment: datetime, start: time, end: time) -> datetime | None:
    """The end of the quiet window ``moment`` falls in (business time zone), or
    None outside it. A window may cross midnight (22:00–08:00); start == end
    means no quiet hours."""
    if start == end:
        return None
    tz = business_tz()
    local = moment.astimezone(tz)
    now_t = local.time()
    if start < end:
        inside = start <= now_t < end
        end_day = local.date()
    else:
        inside = now_t >= start or now_t < end
        end_day = local.date() + timedelta(days=1) if now_t >= start else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, end, tzinfo=tz)


# --- rendering --------------------------------------------------------------------------
PLACEHOLDERS = {
    "nickname",
    "coupon_name",
    "coupon_value",
    "coupon_expires",
    "order_number",
    "product",
    "carrier",
    "amount",
    "date",
    "segment",
    "campaign",
}


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def render(
    template: MessageTemplate, data: dict[str, str], context: dict[str, Any]
) -> dict[str, str]:
    """The message's keyword values: ``data``'s texts with their placeholders
    filled from ``context``, checked against WeChat's rules (``FieldRefused``)."""
    values = _Values({key: str(value) for key, value in context.items()})
    filled = {}
    for key, text in data.items():
        try:
            filled[key] = str(text).format_map(values)
        except (KeyError, ValueError, IndexError) as exc:
            raise rules.FieldRefused(key, f"unknown placeholder {exc}") from None
    return rules.check_all(filled, [k["key"] for k in template.keywords])


def local_text(moment: datetime | None) -> str:
    moment = moment or timezone.now()
    return moment.astimezone(business_tz()).strftime("%Y年%m月%d日 %H:%M")


def context_for(row: Delivery, campaign: Campaign, member: Member) -> dict[str, Any]:
    context: dict[str, Any] = {
        "nickname": (member.nickname or "会员")[:10],
        "date": local_text(timezone.now()),
        "campaign": campaign.name[:20],
    }
    if campaign.coupon_id:
        coupon = campaign.coupon
        context["coupon_name"] = coupon.name[:20] if coupon else ""
        context["coupon_value"] = f"¥{coupon.value / 100:.2f}" if coupon and coupon.value else ""
    context.update(row.context or {})
    return context


def data_for(row: Delivery, campaign: Campaign) -> dict[str, str]:
    data = dict(campaign.data or {})
    if row.variant:
        for variant in campaign.variants or []:
            if isinstance(variant, dict) and variant.get("name") == row.variant:
                data.update(variant.get("data") or {})
    return data


def page_for(campaign: Campaign) -> str:
    page = campaign.page or "pages/index/index"
    return f"{page}{'&' if '?' in page else '?'}cid={campaign.cid}"


# --- one row ------------------------------------------------------------------------------
def _held(row: Delivery) -> Any:
    return Delivery.objects.filter(pk=row.pk, state=LedgerState.CLAIMED, claim=row.claim)


def _defer(row: Delivery, *, until: datetime, reason: str) -> None:
    """Back to the queue until ``until`` without spending an attempt."""
    _held(row).update(attempts=F("attempts") - 1)
    row.attempts -= 1
    raise Retry(reason, delay=max(timedelta(0), until - timezone.now()))


def _capped_many(items: list[Ready], settings_row: PushSettings) -> dict[int, str]:
    """{delivery pk: "capped_day" | "capped_week"} for the rows whose member has
    reached a cap (sends counted across campaigns, transactional notices left
    out), in one query for the chunk. Members appear once per chunk."""
    if not items or not (settings_row.daily_cap or settings_row.weekly_cap):
        return {}
    now = timezone.now()
    local = now.astimezone(business_tz())
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = day_start - timedelta(days=local.weekday())
    counts = {
        row["member_id"]: row
        for row in Delivery.objects.filter(
            member_id__in=[item.row.member_id for item in items],
            sent_at__isnull=False,
            sent_at__gte=min(day_start, week_start),
            state__in=[LedgerState.CLAIMED, LedgerState.DONE, LedgerState.DOUBT],
        )
        .exclude(pk__in=[item.row.pk for item in items])
        .exclude(campaign__kind=CampaignKind.TRANSACTIONAL)
        .order_by()
        .values("member_id")
        .annotate(
            day=Count("pk", filter=Q(sent_at__gte=day_start)),
            week=Count("pk", filter=Q(sent_at__gte=week_start)),
        )
    }
    capped = {}
    for item in items:
        seen = counts.get(item.row.member_id)
        if seen is None:
            continue
        if settings_row.daily_cap and seen["day"] >= settings_row.daily_cap:
            capped[item.row.pk] = "capped_day"
        elif settings_row.weekly_cap and seen["week"] >= settings_row.weekly_cap:
            capped[item.row.pk] = "capped_week"
    return capped


def _take_consents(member_ids: list[int], template: MessageTemplate) -> set[int]:
    """Take one consent of ``template`` for each member who has one, in one
    ``UPDATE … RETURNING`` (a one-time consent only while ``remaining > 0``, so two
    campaigns racing for one consent send once); the members who had one."""
    if not member_ids:
        return set()
    table = connection.ops.quote_name(Consent._meta.db_table)
    marks = ", ".join(["%s"] * len(member_ids))
    if template.kind == TemplateKind.LONG_TERM:
        sql = (
            f"UPDATE {table} SET used_total = used_total + 1 "  # noqa: S608 - identifiers from models, values bound
            f"WHERE template_id = %s AND member_id IN ({marks}) AND long_term "
            f"RETURNING member_id"
        )
        params: list[Any] = [template.pk, *member_ids]
    else:
        sql = (
            f"UPDATE {table} SET remaining = remaining - 1, used_total = used_total + 1, "  # noqa: S608 - identifiers from models, values bound
            f"updated_at = %s WHERE template_id = %s AND member_id IN ({marks}) "
            f"AND remaining > 0 RETURNING member_id"
        )
        params = [timezone.now(), template.pk, *member_ids]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {int(row[0]) for row in cursor.fetchall()}


def _give_back(member_id: int, template: MessageTemplate) -> None:
    if template.kind == TemplateKind.ONE_TIME:
        Consent.objects.filter(member_id=member_id, template=template).update(
            remaining=F("remaining") + 1, used_total=F("used_total") - 1
        )


def _issue_coupon(row: Delivery, campaign: Campaign) -> None:
    from miniops.marketing.models import Coupon
    from miniops.marketing.services import coupons

    source = f"campaign:{campaign.pk}"[:32]
    assert campaign.coupon is not None
    with transaction.atomic():
        result = coupons.issue(
            template=campaign.coupon, member_ids=[row.member_id], actor=None, source=source
        )
        if not result["issued"]:
            raise Final("coupon_not_issued", state=LedgerState.SKIPPED)
        coupon_id = (
            Coupon.objects.filter(
                member_id=row.member_id, template_id=campaign.coupon_id, source=source
            )
            .order_by("-pk")
            .values_list("pk", flat=True)
            .first()
        )
        _held(row).update(coupon_id=coupon_id)
        row.coupon_id = coupon_id


@dataclass
class Ready:
    """A row that passed every check that needs no lock: what to send."""

    row: Delivery
    campaign: Campaign
    template: MessageTemplate
    member: Member
    data: dict[str, str]

    @property
    def transactional(self) -> bool:
        return self.campaign.kind == CampaignKind.TRANSACTIONAL


_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _executor(size: int) -> ThreadPoolExecutor:
    """The process's sending threads (HTTP only: they never touch the database)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != size:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool, _pool_size = ThreadPoolExecutor(size, thread_name_prefix="push"), size
        return _pool


class Sender:
    """Sends one claimed batch. Caches campaigns, settings and the batch's members.

    The batch is dealt into chunks of ``threads`` rows (a member at most once per
    chunk). For each chunk, one transaction holding the chunk's members' rows
    checks the caps, stamps ``sent_at`` (renewing the lease) and takes the
    consents, all in bulk; then the chunk's messages go out on ``threads`` HTTP
    threads while the next chunk's transaction runs; then one UPDATE finishes the
    chunk's successes. A worker that dies leaves at most two chunks stamped and
    unfinished (→ ``doubt``); everything else it held goes back to the queue."""

    def __init__(self, settings_row: PushSettings, *, threads: int = 1) -> None:
        self.settings = settings_row
        self.threads = max(1, threads)
        self.campaigns: dict[int, Campaign] = {}
        self.members: dict[int, Member] = {}
        self.provider = subscribe_provider.get()

    def prepare(self, rows: list[Delivery]) -> None:
        """The batch's members (openid, nickname) in one query."""
        ids = {row.member_id for row in rows} - set(self.members)
        self.members.update(
            (m.pk, m) for m in Member.objects.only("id", "openid", "nickname").filter(pk__in=ids)
        )

    def campaign(self, campaign_id: int) -> Campaign:
        if campaign_id not in self.campaigns:
            self.campaigns[campaign_id] = Campaign.objects.select_related("template", "coupon").get(
                pk=campaign_id
            )
        return self.campaigns[campaign_id]

    # --- the batch ----------------------------------------------------------------------
    def run(self, rows: list[Delivery]) -> ledger.BatchResult:
        result = ledger.BatchResult(claimed=len(rows))
        if not rows:
            return result
        self.prepare(rows)
        ready: list[Ready] = []
        coupon_only: list[Delivery] = []
        for row in rows:
            try:
                checked = self.check(row)
            except (Retry, Final) as exc:
                _settle(row, exc, result)
                continue
            except Exception as exc:
                logger.exception("push check failed on delivery %s", row.pk)
                _settle(row, Retry("error", detail=repr(exc)), result)
                continue
            if checked is None:
                coupon_only.append(row)
            else:
                ready.append(checked)
        if coupon_only:
            kept = ledger.finish_many(coupon_only, reason="coupon_issued")
            result.done += kept
            result.lost += len(coupon_only) - kept
        in_flight: list[tuple[Ready, Future[str]]] = []
        for chunk in _chunks(ready, self.threads):
            granted = throttling.acquire_many("wechat_subscribe", send_rate(), len(chunk), wait=2.0)
            for late in chunk[granted:]:
                _settle(late.row, Retry("rate_limited", delay=timedelta(seconds=1)), result)
            going = self.stamp(chunk[:granted], result)
            started = [(item, self.submit(item)) for item in going]
            self.settle_sends(in_flight, result)
            in_flight = started
        self.settle_sends(in_flight, result)
        return result

    def check(self, row: Delivery) -> Ready | None:
        """Everything before the consent, without locks: paused, quiet hours, the
        coupon, the fields rendered and checked. Raises ``Retry`` / ``Final``; None
        for a coupon-only campaign (nothing to send)."""
        campaign = self.campaign(row.campaign_id)
        if campaign.status != CampaignStatus.RUNNING:
            _defer(row, until=timezone.now() + timedelta(minutes=1), reason="paused")
        if campaign.kind != CampaignKind.TRANSACTIONAL:
            until = quiet_until(timezone.now(), self.settings.quiet_start, self.settings.quiet_end)
            if until is not None:
                policy = campaign.quiet_policy or self.settings.quiet_policy
                if policy == QuietPolicy.DROP:
                    raise Final("quiet_hours", state=LedgerState.SKIPPED)
                _defer(row, until=until, reason="quiet_hours")
        if campaign.coupon_id and row.coupon_id is None:
            _issue_coupon(row, campaign)
        template = campaign.template
        if template is None:
            return None
        member = self.members.get(row.member_id) or (
            Member.objects.only("id", "openid", "nickname").get(pk=row.member_id)
        )
        try:
            data = render(template, data_for(row, campaign), context_for(row, campaign, member))
        except rules.FieldRefused as exc:
            raise Final("invalid_field", detail=f"{exc.field}: {exc.why}") from None
        return Ready(row=row, campaign=campaign, template=template, member=member, data=data)

    def stamp(self, chunk: list[Ready], result: ledger.BatchResult) -> list[Ready]:
        """One transaction for the chunk, its members' rows locked (in id order, so
        two workers never deadlock): caps, then ``sent_at`` on the rows still held,
        then the consents taken. Rows capped or without consent are finished
        (skipped) in the same transaction. Returns the rows to send."""
        if not chunk:
            return []
        with transaction.atomic():
            members = sorted({item.row.member_id for item in chunk})
            list(
                Member.objects.select_for_update()
                .filter(pk__in=members)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            capped = _capped_many([item for item in chunk if not item.transactional], self.settings)
            for reason in sorted(set(capped.values())):
                rows = [item.row for item in chunk if capped.get(item.row.pk) == reason]
                kept = ledger.finish_many(rows, state=LedgerState.SKIPPED, reason=reason)
                result.failed += kept
                result.lost += len(rows) - kept
            chunk = [item for item in chunk if item.row.pk not in capped]
            if not chunk:
                return []
            # sending starts now: renew the lease, so recovery does not take a row
            # in the middle of its send; a row recovered meanwhile is not ours
            started = timezone.now()
            token = chunk[0].row.claim
            ids = [item.row.pk for item in chunk]
            held = Delivery.objects.filter(pk__in=ids, state=LedgerState.CLAIMED, claim=token)
            held.update(sent_at=started, lease_until=started + lease())
            ours = set(held.filter(sent_at=started).values_list("pk", flat=True))
            result.lost += len(chunk) - len(ours)
            chunk = [item for item in chunk if item.row.pk in ours]
            consented: set[int] = set()
            by_template: dict[int, list[Ready]] = {}
            for item in chunk:
                by_template.setdefault(item.template.pk, []).append(item)
            for items in by_template.values():
                consented |= _take_consents([i.row.member_id for i in items], items[0].template)
            refused = [item.row for item in chunk if item.row.member_id not in consented]
            if refused:
                kept = ledger.finish_many(
                    refused,
                    state=LedgerState.SKIPPED,
                    reason="no_consent",
                    fields={"sent_at": None},
                )
                result.failed += kept
                result.lost += len(refused) - kept
            for item in chunk:
                item.row.sent_at = started
            return [item for item in chunk if item.row.member_id in consented]

    def submit(self, item: Ready) -> Future[str]:
        """The send on a sending thread; in this thread with one thread, or inside
        an outer transaction (a test's provider may read what it cannot see from
        another connection)."""
        if self.threads > 1 and not connection.in_atomic_block:
            return _executor(self.threads).submit(self.send, item)
        future: Future[str] = Future()
        try:
            future.set_result(self.send(item))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def send(self, item: Ready) -> str:
        """One HTTP call (a sending thread; no database)."""
        return self.provider.send(
            openid=item.member.openid,
            template_id=item.template.wx_template_id,
            data=item.data,
            page=page_for(item.campaign),
        )

    def settle_sends(
        self, sends: list[tuple[Ready, Future[str]]], result: ledger.BatchResult
    ) -> None:
        """The chunk's answers: successes finished in one UPDATE, the rest one by one
        by what WeChat said (``failed``)."""
        sent: list[Delivery] = []
        msgids: dict[int, dict[str, Any]] = {}
        for item, future in sends:
            try:
                msgid = future.result()
            except PlatformError as exc:
                try:
                    self.failed(item.row, item.template, exc)
                except (Retry, Final) as outcome:
                    _settle(item.row, outcome, result)
                continue
            except Exception as exc:
                # not an answer we understand: the message may have gone out
                logger.exception("push send failed on delivery %s", item.row.pk)
                _settle(item.row, Final("no_answer", repr(exc), state=LedgerState.DOUBT), result)
                continue
            sent.append(item.row)
            msgids[item.row.pk] = {"msgid": str(msgid)[:64]}
        if sent:
            kept = ledger.finish_many(sent, reason="sent", per_row=msgids, fields={"errcode": None})
            result.done += kept
            result.lost += len(sent) - kept

    def failed(self, row: Delivery, template: MessageTemplate, exc: PlatformError) -> None:
        code = exc.errcode
        _held(row).update(errcode=code)
        if code is None or (code in BUSY and _transport(exc)):
            raise Final("no_answer", detail=str(exc), state=LedgerState.DOUBT)
        if code == NO_CONSENT:
            Consent.objects.filter(member_id=row.member_id, template=template).update(remaining=0)
        if code in FINAL_REASONS:
            raise Final(FINAL_REASONS[code], detail=exc.errmsg)
        if code in BUSY | RATE_LIMITED:
            # WeChat answered "not now": nothing was sent, the consent is still there
            _give_back(row.member_id, template)
            _held(row).update(sent_at=None)
            raise Retry("rate_limited" if code in RATE_LIMITED else "busy", detail=exc.errmsg)
        raise Final(f"wechat_{code}", detail=exc.errmsg)


def _chunks(items: list[Ready], size: int) -> list[list[Ready]]:
    """``items`` in order, ``size`` at a time, a member at most once per chunk (a
    second row for the same member goes to a later chunk, after the first has
    taken its consent and counted toward the caps)."""
    chunks: list[list[Ready]] = []
    members: list[set[int]] = []
    start = 0  # chunks before this one are full
    for item in items:
        at = start
        while at < len(chunks) and (len(chunks[at]) >= size or item.row.member_id in members[at]):
            at += 1
        if at == len(chunks):
            chunks.append([])
            members.append(set())
        chunks[at].append(item)
        members[at].add(item.row.member_id)
        while start < len(chunks) and len(chunks[start]) >= size:
            start += 1
    return chunks


def _settle(row: Delivery, outcome: Retry | Final, result: ledger.BatchResult) -> None:
    if isinstance(outcome, Retry):
        kept = ledger.retry(
            row,
            reason=outcome.reason,
            detail=outcome.detail,
            max_attempts=MAX_ATTEMPTS,
            delay=outcome.delay,
        )
        result.retried += kept
    else:
        kept = ledger.finish(row, state=outcome.state, reason=outcome.reason, detail=outcome.detail)
        result.failed += kept
    result.lost += not kept


def _transport(exc: PlatformError) -> bool:
    """A -1 made by the client (network error, 5xx, not JSON), not WeChat's own
    "system busy" answer: the request may have been processed."""
    return exc.errmsg.startswith(("network", "HTTP ", "not JSON", "unexpected"))


def pending() -> Any:
    return Delivery.objects.filter(campaign__status=CampaignStatus.RUNNING)


def send_due(
    *, limit: int = 200, threads: int | None = None, queryset: Any = None
) -> ledger.BatchResult:
    """One batch of due deliveries (a worker calls this in a loop): claimed once
    with ``SKIP LOCKED``, sent by ``Sender`` with ``threads`` HTTP threads
    (``MINIOPS_PUSH_THREADS``; a send mostly waits on WeChat). ``queryset``
    narrows the rows (a test drains one campaign)."""
    from miniops.notifications.selectors import push_settings

    rows = ledger.claim(queryset if queryset is not None else pending(), limit=limit, lease=lease())
    sender = Sender(
        push_settings(),
        threads=int(settings.MINIOPS_PUSH_THREADS) if threads is None else threads,
    )
    return sender.run(rows)


def recover() -> int:
    """Rows of a worker that died holding them. Those it had not started sending
    (no ``sent_at``: the consent was not taken, nothing went out) go back to the
    queue; those it may have sent become ``doubt`` — never repeated blindly.
    Returns how many became doubt."""
    # One ``now`` for both statements, and doubt only for rows that had started
    # sending: a lease that ran out between the two (a slow batch, not a dead
    # worker) must not turn a never-sent row into doubt.
    now = timezone.now()
    ledger.recover_expired(Delivery.objects.filter(sent_at__isnull=True), retry_safe=True, now=now)
    return ledger.recover_expired(
        Delivery.objects.filter(sent_at__isnull=False), retry_safe=False, now=now
    )
