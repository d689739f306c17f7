"""The publish path: pre-screen, platform checks, and when an item goes live.

An item is written ``pending``. The pre-screen runs in the writing transaction:
``block`` refuses the write (nothing is stored), ``review`` opens a case in the
review queue, ``mask`` stores the masked text. Images, and texts of at least
``MINIOPS_CONTENT_PLATFORM_TEXT_CHARS`` characters, then go to WeChat's content
security as ``PlatformCheck`` ledger rows, run after commit by a task. The item
is published when every check of its revision said ``pass`` and no case is open;
a ``review``/``risky`` verdict, a platform failure or an image with no verdict
after ``MINIOPS_CONTENT_MEDIA_TIMEOUT_MINUTES`` opens a case instead. Nothing is
ever published on a failure.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.content import prescreen
from miniops.content.models import (
    CaseStatus,
    Comment,
    Kind,
    ModerationCase,
    PlatformCheck,
    Post,
    Review,
    Signal,
    Status,
)
from miniops.content.providers import SCENES, Verdict, content_check
from miniops.content.services.common import forget_review_summary, refresh_hot
from miniops.core import ledger
from miniops.core.errors import Conflict, NotFound, Unprocessable
from miniops.core.media import public_url
from miniops.core.throttling import LimitTimeout, acquire
from miniops.core.wechat import PlatformError

logger = logging.getLogger("miniops.content")

MODELS: dict[str, Any] = {Kind.POST: Post, Kind.COMMENT: Comment, Kind.REVIEW: Review}
#: how much a matched category weighs in a case's score
SEVERITY = {"politics": 50, "porn": 40, "gambling": 35, "abuse": 20, "ads": 15, "custom": 20}
BAD_VERDICTS = {
    PlatformCheck.Verdict.REVIEW,
    PlatformCheck.Verdict.RISKY,
    PlatformCheck.Verdict.ERROR,
    PlatformCheck.Verdict.TIMEOUT,
}
TEXT_RATE = "4000/m"  # msgSecCheck's limit per app
MEDIA_RATE = "2000/m"  # mediaCheckAsync's


def item_of(kind: str, object_id: int, *, lock: bool = False) -> Any:
    model = MODELS.get(kind)
    if model is None:
        raise NotFound()
    rows = model.objects.select_for_update() if lock else model.objects
    return rows.filter(pk=object_id).first()


def kind_of(item: Any) -> str:
    return {Post: Kind.POST, Comment: Kind.COMMENT, Review: Kind.REVIEW}[type(item)]


# --- the pre-screen in the writing transaction ----------------------------------------------
def prescreen_text(text: str) -> prescreen.Screen:
    """The pre-screen's verdict; ``block`` refuses the write here (422
    ``content_blocked``), before anything is stored."""
    from miniops.content.services import lexicon

    result = lexicon.screen(text)
    if result.verdict == prescreen.BLOCK:
        raise Unprocessable(
            _("This text contains words that are not allowed; change it and try again."),
            code="content_blocked",
            fields={"text": _("Contains words that are not allowed.")},
        )
    return result


def submit(item: Any, *, result: prescreen.Screen, images: list[str] | None = None) -> bool:
    """After an item was written (created or edited, ``pending``): open a case for a
    ``review`` verdict, queue the platform checks, publish at once when nothing is
    left to check. In the caller's transaction. True when it settled the item
    there and then (its row may have changed: read it again); False when checks
    were queued (the row is as written)."""
    kind = kind_of(item)
    if result.verdict == prescreen.REVIEW:
        open_case(
            kind,
            item,
            trigger="prescreen",
            signals=[
                {
                    "source": "lexicon",
                    "category": hit.category,
                    "suggest": hit.action,
                    "label": hit.term,
                    "detail": hit.as_dict(),
                }
                for hit in result.hits
            ],
        )
    rows = []
    if len(item.text) >= settings.MINIOPS_CONTENT_PLATFORM_TEXT_CHARS:
        rows.append(
            PlatformCheck(
                key=f"{kind}:{item.pk}:{item.revision}:text",
                kind=kind,
                object_id=item.pk,
                revision=item.revision,
                channel="text",
            )
        )
    for index, name in enumerate(images or []):
        rows.append(
            PlatformCheck(
                key=f"{kind}:{item.pk}:{item.revision}:media:{index}",
                kind=kind,
                object_id=item.pk,
                revision=item.revision,
                channel="media",
                media_url=name,
            )
        )
    if rows:
        # one INSERT for the text and every image (a key that exists is kept)
        ledger.enqueue_all(PlatformCheck, rows)
        transaction.on_commit(_run_checks_soon)
        return False
    settle(kind, item.pk)
    return True


#: queues the task that runs the checks (set by ContentConfig.ready: services do
#: not import their tasks); None runs nothing, the periodic task picks them up
checks_runner: Any = None


def _run_checks_soon() -> None:
    if checks_runner is None:
        return
    try:
        checks_runner()
    except Exception:  # the periodic run picks the rows up
        logger.exception("could not queue the platform checks")


# --- cases --------------------------------------------------------------------------------
def open_case(
    kind: str, item: Any, *, trigger: str, signals: list[dict[str, Any]], reports: int | None = None
) -> ModerationCase:
    """The item's case, opened (or re-opened: one case per item) with ``signals``."""
    now = timezone.now()
    case, created = ModerationCase.objects.get_or_create(
        kind=kind,
        object_id=item.pk,
        defaults={"author_id": item.author_id, "excerpt": item.text[:300], "trigger": trigger},
    )
    if not created:
        fields: dict[str, Any] = {"excerpt": item.text[:300], "trigger": trigger}
        if case.status != CaseStatus.OPEN:
            fields.update(
                status=CaseStatus.OPEN, opened_at=now, claimed_by=None, claimed_until=None
            )
        ModerationCase.objects.filter(pk=case.pk).update(**fields)
        case.refresh_from_db()
    Signal.objects.bulk_create(
        [
            Signal(
                case=case,
                source=signal["source"],
                category=signal.get("category", ""),
                suggest=signal.get("suggest", ""),
                label=str(signal.get("label", ""))[:32],
                detail=signal.get("detail", {}),
            )
            for signal in signals
        ]
    )
    rescore(case, reports=reports)
    return case


def rescore(case: ModerationCase, *, reports: int | None = None) -> None:
    """Severity of what matched + reports + the author's history."""
    signals = list(case.signals.values("category", "suggest", "source"))
    categories = sorted({s["category"] for s in signals if s["category"]})
    severity = max((SEVERITY.get(c, 10) for c in categories), default=0)
    platform = 0
    for s in signals:
        if s["source"].startswith("wechat") or s["source"] in {"timeout", "provider_error"}:
            platform = max(platform, 40 if s["suggest"] == "risky" else 20)
    if reports is None:
        reports = case.reports_count
    from miniops.content.models import Report

    reports = Report.objects.filter(kind=case.kind, object_id=case.object_id).count()
    history = (
        ModerationCase.objects.filter(author_id=case.author_id, status=CaseStatus.REJECTED)
        .exclude(pk=case.pk)
        .count()
    )
    score = severity + platform + 8 * min(reports, 10) + 5 * min(history, 6)
    ModerationCase.objects.filter(pk=case.pk).update(
        score=score, categories=categories, reports_count=reports
    )
    case.score, case.categories, case.reports_count = score, categories, reports


# --- going live -------------------------------------------------------------------------------
def publish(kind: str, item: Any) -> None:
    now = timezone.now()
    model = MODELS[kind]
    first = item.published_at is None
    model.objects.filter(pk=item.pk).update(
        status=Status.PUBLISHED, published_at=item.published_at or now, reject_reason=""
    )
    item.status, item.published_at = Status.PUBLISHED, item.published_at or now
    after_visibility_change(kind, item)
    if kind == Kind.REVIEW and first and item.follows_id is None:
        from miniops.marketing.services import points

        points.first_review_reward(member_id=item.author_id, reference=f"review:{item.pk}")


def after_visibility_change(kind: str, item: Any) -> None:
    """Counters that count only visible items."""
    if kind == Kind.POST:
        refresh_hot(item.pk)
    elif kind == Kind.COMMENT:
        count = Comment.objects.filter(
            post_id=item.post_id, status=Status.PUBLISHED, is_hidden=False
        ).count()
        Post.objects.filter(pk=item.post_id).update(comments_count=count)
        refresh_hot(item.post_id)
    elif kind == Kind.REVIEW:
        forget_review_summary(item.product_id)


@transaction.atomic
def settle(kind: str, object_id: int) -> str:
    """Publish the item when every check of its revision passed and no case is
    open; open a case for a bad verdict. Returns the item's status."""
    item = item_of(kind, object_id, lock=True)
    if item is None:
        return ""
    if item.status != Status.PENDING:
        return str(item.status)
    case = ModerationCase.objects.filter(kind=kind, object_id=object_id).first()
    checks = list(
        PlatformCheck.objects.filter(kind=kind, object_id=object_id, revision=item.revision)
    )
    bad = [check for check in checks if check.verdict in BAD_VERDICTS]
    if bad:
        signals: list[dict[str, Any]] = [
            {
                "source": {"error": "provider_error", "timeout": "timeout"}.get(
                    check.verdict, f"wechat_{check.channel}"
                ),
                "suggest": check.verdict,
                "label": check.label,
                "detail": {"check": check.key, "reason": check.reason},
            }
            for check in bad
            if not (case and case.signals.filter(detail__check=check.key).exists())
        ]
        if signals or case is None or case.status != CaseStatus.OPEN:
            open_case(
                kind, item, trigger=signals[0]["source"] if signals else "platform", signals=signals
            )
        return str(item.status)
    if case is not None and case.status == CaseStatus.OPEN:
        return str(item.status)
    if all(check.verdict == PlatformCheck.Verdict.PASS for check in checks):
        publish(kind, item)
    return str(item.status)


# --- platform checks ------------------------------------------------------------------------
def _apply(row: PlatformCheck, verdict: Verdict | None, *, error: str = "") -> None:
    now = timezone.now()
    fields: dict[str, Any] = {"answered_at": now}
    if verdict is None:
        fields.update(verdict=PlatformCheck.Verdict.ERROR, label="")
    else:
        fields.update(verdict=verdict.suggest, label=verdict.label)
    PlatformCheck.objects.filter(pk=row.pk).update(**fields)


def run_check(row: PlatformCheck) -> ledger.Outcome:
    """The ledger handler: one call to WeChat for one check."""
    item = item_of(row.kind, row.object_id)
    if item is None or item.revision != row.revision or item.status != Status.PENDING:
        return ledger.Outcome(reason="stale", state=ledger.LedgerState.SKIPPED)
    provider = content_check.get()
    openid = item.author.openid
    scene = SCENES.get(row.kind, 2)
    try:
        if row.channel == "text":
            acquire("wechat_msg_sec_check", TEXT_RATE, wait=5)
            verdict = provider.check_text(openid=openid, scene=scene, content=item.text)
            PlatformCheck.objects.filter(pk=row.pk).update(
                trace_id=verdict.trace_id or None, requested_at=timezone.now()
            )
            _apply(row, verdict)
            outcome = ledger.Outcome(reason=verdict.suggest)
        else:
            acquire("wechat_media_check", MEDIA_RATE, wait=5)
            ticket = provider.check_media(
                openid=openid, scene=scene, media_url=public_url(row.media_url) or row.media_url
            )
            PlatformCheck.objects.filter(pk=row.pk).update(
                trace_id=ticket.trace_id, requested_at=timezone.now()
            )
            if ticket.verdict is not None:
                _apply(row, ticket.verdict)
            outcome = ledger.Outcome(
                reason="requested" if ticket.verdict is None else ticket.verdict.suggest
            )
    except LimitTimeout as exc:
        raise ledger.Retry("rate_limited", delay=timedelta(seconds=10)) from exc
    except PlatformError as exc:
        # never published on a failure: a person decides
        _apply(row, None)
        settle(row.kind, row.object_id)
        return ledger.Outcome(reason="provider_error", detail=str(exc))
    settle(row.kind, row.object_id)
    return outcome


def process_checks(limit: int = 50) -> ledger.BatchResult:
    return ledger.process(PlatformCheck.objects.all(), run_check, limit=limit, max_attempts=3)


@transaction.atomic
def media_verdict(*, trace_id: str, body: dict[str, Any]) -> PlatformCheck:
    """WeChat's pushed verdict for an image (``wxa_media_check``): an unknown
    ``trace_id`` is 404, one already answered 409, both with nothing changed."""
    from miniops.content.providers import parse_result

    row = (
        PlatformCheck.objects.select_for_update().filter(trace_id=trace_id, channel="media").first()
    )
    if row is None:
        raise NotFound(_("No image check has this trace_id."), code="unknown_trace_id")
    if row.verdict:
        raise Conflict(_("This check already has its verdict."), code="already_answered")
    verdict = parse_result(body)
    _apply(row, verdict)
    transaction.on_commit(lambda: settle(row.kind, row.object_id))
    return row


def expire_media_checks(now: Any = None) -> int:
    """Images still without a verdict after the timeout go to a person."""
    now = now or timezone.now()
    limit = now - timedelta(minutes=settings.MINIOPS_CONTENT_MEDIA_TIMEOUT_MINUTES)
    rows = list(
        PlatformCheck.objects.filter(
            channel="media", verdict="", requested_at__lt=limit
        ).values_list("pk", "kind", "object_id")[:500]
    )
    for pk, kind, object_id in rows:
        if PlatformCheck.objects.filter(pk=pk, verdict="").update(
            verdict=PlatformCheck.Verdict.TIMEOUT, answered_at=now
        ):
            settle(kind, object_id)
    return len(rows)


def pending_checks() -> dict[str, int]:
    return dict(
        PlatformCheck.objects.filter(verdict="").values_list("channel").annotate(n=Count("pk"))
    )
