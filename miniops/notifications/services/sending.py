"""The delivery engine: claim due deliveries, send each at most once.

One ``Delivery`` row per campaign × member × occurrence (``core.ledger``), claimed
with ``SKIP LOCKED`` on PostgreSQL (a conditional UPDATE on SQLite), so any number
of workers share the queue without sending a row twice. For each row, in order:

1. quiet hours (business time zone): deferred to the window's end, or dropped;
2. the coupon, when the campaign gives one (issued once: its id is kept on the row);
3. the message's fields rendered and checked against WeChat's rules (a value
   WeChat would refuse fails the row with the field named, and is never sent);
4. one slot of the shared outbound budget (``core.throttling.acquire``: one
   window for every worker, in Redis at scale);
5. in one transaction, the member's row locked: the frequency caps (per day and
   per week, across campaigns) and the consent — a one-time consent is taken by
   a conditional UPDATE, so two campaigns racing for one consent send once;
6. the send. WeChat's answer decides: success → ``done``/``sent``; 43101 →
   consent gone, ``failed``; 47003 and the other final errors → ``failed`` with
   the reason; busy or rate-limited (an explicit answer: nothing was sent) →
   consent given back and retried with back-off and jitter; no answer (a time-out,
   a broken connection: it may have reached WeChat) → ``doubt``, never repeated
   blindly. A worker that dies mid-send leaves its rows to ``recover_expired``
   with ``retry_safe=False``: ``doubt`` as well.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from miniops.core import ledger, throttling
from miniops.core.ledger import Final, LedgerState, Outcome, Retry
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


def _capped(member_id: int, row: Delivery, settings_row: PushSettings) -> str:
    now = timezone.now()
    counted = (
        Delivery.objects.filter(
            member_id=member_id,
            sent_at__isnull=False,
            state__in=[LedgerState.CLAIMED, LedgerState.DONE, LedgerState.DOUBT],
        )
        .exclude(pk=row.pk)
        .exclude(campaign__kind=CampaignKind.TRANSACTIONAL)
    )
    local = now.astimezone(business_tz())
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = day_start - timedelta(days=local.weekday())
    if not (settings_row.daily_cap or settings_row.weekly_cap):
        return ""
    # both windows in one query (the week contains the day)
    counts = counted.filter(sent_at__gte=min(day_start, week_start)).aggregate(
        day=Count("pk", filter=Q(sent_at__gte=day_start)),
        week=Count("pk", filter=Q(sent_at__gte=week_start)),
    )
    if settings_row.daily_cap and counts["day"] >= settings_row.daily_cap:
        return "capped_day"
    if settings_row.weekly_cap and counts["week"] >= settings_row.weekly_cap:
        return "capped_week"
    return ""


def _take_consent(member_id: int, template: MessageTemplate) -> bool:
    rows = Consent.objects.filter(member_id=member_id, template=template)
    if template.kind == TemplateKind.LONG_TERM:
        return rows.filter(long_term=True).update(used_total=F("used_total") + 1) == 1
    return (
        rows.filter(remaining__gt=0).update(
            remaining=F("remaining") - 1, used_total=F("used_total") + 1, updated_at=timezone.now()
        )
        == 1
    )


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


class Sender:
    """Sends claimed rows; caches campaigns, settings and the batch's members for
    one batch (shared by the batch's threads: they only add to the caches)."""

    def __init__(self, settings_row: PushSettings) -> None:
        self.settings = settings_row
        self.campaigns: dict[int, Campaign] = {}
        self.members: dict[int, Member] = {}
        self.provider = subscribe_provider.get()

    def prepare(self, rows: list[Delivery]) -> None:
        """The batch's members (openid, nickname) in one query."""
        ids = {row.member_id for row in rows}
        self.members.update(
            (m.pk, m) for m in Member.objects.only("id", "openid", "nickname").filter(pk__in=ids)
        )

    def campaign(self, campaign_id: int) -> Campaign:
        if campaign_id not in self.campaigns:
            self.campaigns[campaign_id] = Campaign.objects.select_related("template", "coupon").get(
                pk=campaign_id
            )
        return self.campaigns[campaign_id]

    def __call__(self, row: Delivery) -> Outcome:
        campaign = self.campaign(row.campaign_id)
        if campaign.status != CampaignStatus.RUNNING:
            _defer(row, until=timezone.now() + timedelta(minutes=1), reason="paused")
        transactional = campaign.kind == CampaignKind.TRANSACTIONAL
        if not transactional:
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
            return Outcome(reason="coupon_issued")
        member = self.members.get(row.member_id) or (
            Member.objects.only("id", "openid", "nickname").get(pk=row.member_id)
        )
        try:
            data = render(template, data_for(row, campaign), context_for(row, campaign, member))
        except rules.FieldRefused as exc:
            raise Final("invalid_field", detail=f"{exc.field}: {exc.why}") from None
        try:
            throttling.acquire("wechat_subscribe", send_rate(), wait=2.0)
        except throttling.LimitTimeout:
            _defer(row, until=timezone.now() + timedelta(seconds=1), reason="rate_limited")
        with transaction.atomic():
            # the member's row serialises this member's sends: caps and consent hold
            list(Member.objects.select_for_update().filter(pk=row.member_id).values_list("pk"))
            if not transactional:
                capped = _capped(row.member_id, row, self.settings)
                if capped:
                    raise Final(capped, state=LedgerState.SKIPPED)
            if not _take_consent(row.member_id, template):
                raise Final("no_consent", state=LedgerState.SKIPPED)
            # sending starts now: renew the lease, so a long batch (rate-limit waits)
            # does not let recovery take a row in the middle of its send
            started = timezone.now()
            if not _held(row).update(sent_at=started, lease_until=started + lease()):
                raise Final("lost_claim")  # recovered meanwhile: roll the consent back
        try:
            msgid = self.provider.send(
                openid=member.openid,
                template_id=template.wx_template_id,
                data=data,
                page=page_for(campaign),
            )
        except PlatformError as exc:
            self.failed(row, template, exc)
            raise AssertionError("unreachable") from exc  # failed() always raises
        return Outcome(reason="sent", fields={"msgid": msgid[:64], "errcode": None})

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


def _transport(exc: PlatformError) -> bool:
    """A -1 made by the client (network error, 5xx, not JSON), not WeChat's own
    "system busy" answer: the request may have been processed."""
    return exc.errmsg.startswith(("network", "HTTP ", "not JSON", "unexpected"))


def pending() -> Any:
    return Delivery.objects.filter(campaign__status=CampaignStatus.RUNNING)


def send_due(*, limit: int = 200, threads: int | None = None) -> ledger.BatchResult:
    """One batch of due deliveries (a worker calls this in a loop), sent by
    ``threads`` threads (``MINIOPS_PUSH_THREADS``): a send mostly waits on WeChat
    and the database, so one process keeps several in flight. Each row is still
    claimed once and sent by one thread."""
    from miniops.notifications.selectors import push_settings

    sender = Sender(push_settings())
    return ledger.process(
        pending(),
        sender,
        limit=limit,
        lease=lease(),
        max_attempts=MAX_ATTEMPTS,
        threads=int(settings.MINIOPS_PUSH_THREADS) if threads is None else threads,
    )


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
