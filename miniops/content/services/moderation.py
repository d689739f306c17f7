"""The review queue: claims, decisions (with templated reasons), undo, appeals
decided by a different reviewer, and operators' hide / pin / feature."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from miniops.content.models import (
    Appeal,
    CaseStatus,
    Decision,
    Kind,
    ModerationCase,
    Post,
    Status,
)
from miniops.content.services import publishing
from miniops.content.services.common import clean_text
from miniops.core import audit
from miniops.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from miniops.core.permissions import P, require

#: reason code -> the text the author is shown
REASONS: dict[str, Any] = {
    "ads": gettext_lazy("Advertising or contact details are not allowed."),
    "abuse": gettext_lazy("Abusive or insulting language."),
    "porn": gettext_lazy("Sexual content."),
    "illegal": gettext_lazy("Illegal or dangerous content."),
    "politics": gettext_lazy("Content that breaks the platform's rules on public affairs."),
    "spam": gettext_lazy("Spam, repeated or meaningless content."),
    "off_topic": gettext_lazy("Not related to the product or the topic."),
    "privacy": gettext_lazy("Shares someone's personal information."),
    "other": gettext_lazy("Does not follow the community rules."),
}
UNDO_MINUTES = 10


def claim_minutes() -> int:
    return int(settings.MINIOPS_CONTENT_CLAIM_MINUTES)


def _free_or_mine(actor: Any, now: Any) -> Q:
    return Q(claimed_by__isnull=True) | Q(claimed_until__lt=now) | Q(claimed_by=actor)


def claim(*, case_id: int, actor: Any) -> ModerationCase:
    """Hold an open case for ``MINIOPS_CONTENT_CLAIM_MINUTES``; another reviewer's
    live claim refuses (409). One conditional UPDATE: two reviewers at once, one wins."""
    require(actor, P.CONTENT_REVIEW)
    now = timezone.now()
    won = ModerationCase.objects.filter(
        _free_or_mine(actor, now), pk=case_id, status=CaseStatus.OPEN
    ).update(claimed_by=actor, claimed_until=now + timedelta(minutes=claim_minutes()))
    case = ModerationCase.objects.filter(pk=case_id).first()
    if case is None:
        raise NotFound()
    if not won:
        if case.status != CaseStatus.OPEN:
            raise Conflict(_("This item was already decided."), code="already_decided")
        raise Conflict(_("Another reviewer is on this item."), code="claimed")
    return case


def release(*, case_id: int, actor: Any) -> None:
    require(actor, P.CONTENT_REVIEW)
    ModerationCase.objects.filter(pk=case_id, claimed_by=actor).update(
        claimed_by=None, claimed_until=None
    )


def claim_next(
    *, actor: Any, queryset: Any = None, skip: int | None = None
) -> ModerationCase | None:
    """Claim the best-scored open case nobody else holds (``skip``: one to pass over)."""
    require(actor, P.CONTENT_REVIEW)
    now = timezone.now()
    rows = queryset if queryset is not None else ModerationCase.objects.all()
    candidates = rows.filter(_free_or_mine(actor, now), status=CaseStatus.OPEN)
    if skip is not None:
        candidates = candidates.exclude(pk=skip)
    # appeals are for someone other than the first reviewer
    candidates = candidates.exclude(appeal__state=Appeal.State.OPEN, appeal__first_reviewer=actor)
    for case_id in candidates.order_by("-score", "opened_at", "pk").values_list("pk", flat=True)[
        :20
    ]:
        try:
            return claim(case_id=case_id, actor=actor)
        except Conflict:
            continue
    return None


def reason_text(code: str) -> str:
    return str(REASONS.get(code, ""))


def _check_reason(code: str) -> None:
    if code not in REASONS:
        raise InvalidInput(fields={"reason": _("Choose a reason.")})


@transaction.atomic
def decide(*, case_id: int, action: str, actor: Any, reason: str = "", note: str = "") -> Decision:
    """Approve (publish, or keep a reported item) or reject (with a templated
    reason the author sees). An open appeal is decided the same way, by someone
    other than the reviewer who rejected the item."""
    require(actor, P.CONTENT_REVIEW)
    if action not in {"approve", "reject"}:
        raise InvalidInput(fields={"action": _("Approve or reject.")})
    if action == "reject":
        _check_reason(reason)
    note = clean_text(note or "", field="note", max_chars=200, required=False)
    now = timezone.now()
    case = ModerationCase.objects.select_for_update().filter(pk=case_id).first()
    if case is None:
        raise NotFound()
    if case.status != CaseStatus.OPEN:
        raise Conflict(_("This item was already decided."), code="already_decided")
    if (
        case.claimed_by_id not in (None, actor.pk)
        and case.claimed_until
        and case.claimed_until > now
    ):
        raise Conflict(_("Another reviewer is on this item."), code="claimed")
    appeal = Appeal.objects.filter(case=case, state=Appeal.State.OPEN).first()
    if appeal is not None and appeal.first_reviewer_id == actor.pk:
        raise Forbidden(_("An appeal is decided by a different reviewer."), code="same_reviewer")
    item = publishing.item_of(case.kind, case.object_id, lock=True)
    if item is None:
        raise NotFound()
    before = {
        "case": case.status,
        "item": item.status,
        "reject_reason": item.reject_reason,
        "reason_code": case.reason_code,
        "decided_by": case.decided_by_id,
        "appeal": appeal.state if appeal else None,
    }
    if action == "approve":
        if item.status in (Status.PENDING, Status.REJECTED):
            publishing.publish(case.kind, item)
        case_status, recorded = CaseStatus.APPROVED, Decision.Action.APPROVE
        if appeal is not None:
            recorded = Decision.Action.OVERTURN
    else:
        if item.status != Status.REMOVED:
            type(item).objects.filter(pk=item.pk).update(
                status=Status.REJECTED, reject_reason=reason_text(reason)
            )
            item.status = Status.REJECTED
            publishing.after_visibility_change(case.kind, item)
        case_status, recorded = CaseStatus.REJECTED, Decision.Action.REJECT
        if appeal is not None:
            recorded = Decision.Action.UPHOLD
    if appeal is not None:
        Appeal.objects.filter(pk=appeal.pk).update(
            state=Appeal.State.OVERTURNED if action == "approve" else Appeal.State.UPHELD,
            decided_by=actor,
            decided_at=now,
        )
    ModerationCase.objects.filter(pk=case.pk).update(
        status=case_status,
        decided_by=actor,
        decided_at=now,
        reason_code=reason if action == "reject" else "",
        claimed_by=None,
        claimed_until=None,
        version=case.version + 1,
    )
    decision = Decision.objects.create(
        case=case,
        actor=actor,
        action=recorded,
        reason_code=reason if action == "reject" else "",
        note=note,
        before=before,
        waited_seconds=max(0, int((now - case.opened_at).total_seconds())),
    )
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        instance=case,
        changes={"status": [case.status, case_status]},
        additional={
            "decision": recorded,
            "reason": reason,
            "item": f"{case.kind}:{case.object_id}",
        },
    )
    return decision


def decide_many(*, case_ids: list[int], action: str, actor: Any, reason: str = "") -> int:
    """Bulk approve / reject: every case through ``decide``; one refusal undoes all."""
    require(actor, P.CONTENT_REVIEW)
    with transaction.atomic():
        for case_id in case_ids:
            decide(case_id=case_id, action=action, actor=actor, reason=reason)
    return len(case_ids)


@transaction.atomic
def undo(*, actor: Any) -> ModerationCase:
    """Take back this reviewer's last decision (within ten minutes): the case is
    open again, claimed by them, the item as it was."""
    require(actor, P.CONTENT_REVIEW)
    since = timezone.now() - timedelta(minutes=UNDO_MINUTES)
    decision = (
        Decision.objects.select_for_update()
        .filter(actor=actor, undone=False, created_at__gte=since)
        .exclude(action=Decision.Action.UNDO)
        .order_by("-created_at", "-pk")
        .first()
    )
    if decision is None:
        raise Conflict(_("Nothing to undo."), code="nothing_to_undo")
    case = ModerationCase.objects.select_for_update().get(pk=decision.case_id)
    if Decision.objects.filter(case=case, created_at__gt=decision.created_at).exists():
        raise Conflict(_("Someone decided this item since."), code="decided_since")
    before = decision.before
    item = publishing.item_of(case.kind, case.object_id, lock=True)
    if item is not None and item.status != Status.REMOVED:
        type(item).objects.filter(pk=item.pk).update(
            status=before.get("item", Status.PENDING), reject_reason=before.get("reject_reason", "")
        )
        item.status = before.get("item", Status.PENDING)
        publishing.after_visibility_change(case.kind, item)
    if before.get("appeal"):
        Appeal.objects.filter(case=case).update(
            state=before["appeal"], decided_by=None, decided_at=None
        )
    now = timezone.now()
    ModerationCase.objects.filter(pk=case.pk).update(
        status=CaseStatus.OPEN,
        decided_by_id=before.get("decided_by"),
        reason_code=before.get("reason_code", ""),
        claimed_by=actor,
        claimed_until=now + timedelta(minutes=claim_minutes()),
        version=case.version + 1,
    )
    Decision.objects.filter(pk=decision.pk).update(undone=True)
    Decision.objects.create(case=case, actor=actor, action=Decision.Action.UNDO, before={})
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        instance=case,
        changes={"status": [case.status, CaseStatus.OPEN]},
        additional={"decision": "undo", "undone": decision.action},
    )
    case.refresh_from_db()
    return case


# --- appeals ----------------------------------------------------------------------------------
@transaction.atomic
def appeal(*, member: Any, kind: str, object_id: int, text: Any) -> Appeal:
    """The author of a rejected item appeals once, within ``MINIOPS_CONTENT_APPEAL_DAYS``."""
    body = clean_text(text, max_chars=2000)
    case = (
        ModerationCase.objects.select_for_update()
        .filter(kind=kind, object_id=object_id, author=member)
        .first()
    )
    item = publishing.item_of(kind, object_id)
    if case is None or item is None or item.author_id != member.pk:
        raise NotFound()
    if item.status != Status.REJECTED or case.status != CaseStatus.REJECTED:
        raise Conflict(_("Only a rejected item can be appealed."), code="not_rejected")
    if Appeal.objects.filter(case=case).exists():
        raise Conflict(_("An item can be appealed once."), code="already_appealed")
    days = settings.MINIOPS_CONTENT_APPEAL_DAYS
    if case.decided_at and case.decided_at < timezone.now() - timedelta(days=days):
        raise Conflict(_("Appeals are accepted within %d days.") % days, code="appeal_too_late")
    row = Appeal.objects.create(
        case=case, member=member, text=body, first_reviewer_id=case.decided_by_id
    )
    ModerationCase.objects.filter(pk=case.pk).update(
        status=CaseStatus.OPEN,
        trigger="appeal",
        opened_at=timezone.now(),
        claimed_by=None,
        claimed_until=None,
        score=case.score + 10,
    )
    return row


# --- operators' flags on posts ----------------------------------------------------------------
FLAGS = {
    "hide": ("is_hidden", True),
    "unhide": ("is_hidden", False),
    "pin": ("is_pinned", True),
    "unpin": ("is_pinned", False),
    "feature": ("is_featured", True),
    "unfeature": ("is_featured", False),
}


@transaction.atomic
def set_flag(*, kind: str, object_id: int, flag: str, actor: Any) -> Any:
    """Hide (any item), pin or feature (posts): audited, behind content.manage."""
    require(actor, P.CONTENT_MANAGE)
    if flag not in FLAGS or (kind != Kind.POST and flag not in {"hide", "unhide"}):
        raise InvalidInput(fields={"flag": _("Not a flag of this item.")})
    item = publishing.item_of(kind, object_id, lock=True)
    if item is None:
        raise NotFound()
    field, value = FLAGS[flag]
    setattr(item, field, value)
    with audit.acting_as(actor):
        item.save(update_fields=[field, "updated_at"])
    publishing.after_visibility_change(kind, item)
    return item


def posts_flag(*, posts: list[Post], flag: str, actor: Any) -> int:
    with transaction.atomic():
        for post in posts:
            set_flag(kind=Kind.POST, object_id=post.pk, flag=flag, actor=actor)
    return len(posts)
