"""Operators' actions on members: block, unblock, tag, reveal personal data."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core import audit
from miniops.core.errors import (
    IllegalTransition,
    InvalidInput,
)
from miniops.core.permissions import P, require_if_operator
from miniops.members import hooks
from miniops.members.models import (
    Member,
    MemberStatus,
    MemberTag,
)
from miniops.members.services.sessions import revoke_all_sessions

# --- operators' actions ---------------------------------------------------------------------------


@transaction.atomic
def block_member(*, member: Member, actor: Any, reason: str) -> Member:
    require_if_operator(actor, P.MEMBERS_MANAGE)
    reason = reason.strip()
    if not reason:
        raise InvalidInput(fields={"reason": _("Say why the member is blocked.")})
    updated = Member.objects.filter(pk=member.pk, status=MemberStatus.ACTIVE).update(
        status=MemberStatus.BLOCKED, blocked_reason=reason[:255], blocked_at=timezone.now()
    )
    if not updated:
        raise IllegalTransition(_("This member is already blocked."))
    revoke_all_sessions(member=member, reason="blocked")
    hooks.run("status_changed", member=member)
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        instance=member,
        changes={
            "status": [MemberStatus.ACTIVE, MemberStatus.BLOCKED],
            "blocked_reason": ["", reason[:255]],
        },
    )
    member.refresh_from_db()
    return member


@transaction.atomic
def unblock_member(*, member: Member, actor: Any) -> Member:
    require_if_operator(actor, P.MEMBERS_MANAGE)
    updated = Member.objects.filter(pk=member.pk, status=MemberStatus.BLOCKED).update(
        status=MemberStatus.ACTIVE, blocked_reason="", blocked_at=None
    )
    if not updated:
        raise IllegalTransition(_("This member is not blocked."))
    hooks.run("status_changed", member=member)
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        instance=member,
        changes={"status": [MemberStatus.BLOCKED, MemberStatus.ACTIVE]},
    )
    member.refresh_from_db()
    return member


@transaction.atomic
def tag_members(
    *, member_ids: Iterable[int], tags: Iterable[MemberTag], actor: Any, remove: bool = False
) -> int:
    """Add (or remove) tags on many members at once; one audit row per member."""
    require_if_operator(actor, P.MEMBERS_MANAGE)
    ids = list(Member.objects.filter(pk__in=list(member_ids)).values_list("pk", flat=True))
    tags = list(tags)
    if not ids or not tags:
        return 0
    through = Member.tags.through
    if remove:
        through.objects.filter(member_id__in=ids, membertag_id__in=[t.pk for t in tags]).delete()
    else:
        existing = set(
            through.objects.filter(
                member_id__in=ids, membertag_id__in=[t.pk for t in tags]
            ).values_list("member_id", "membertag_id")
        )
        through.objects.bulk_create(
            [
                through(member_id=member_id, membertag_id=tag.pk)
                for member_id in ids
                for tag in tags
                if (member_id, tag.pk) not in existing
            ],
            batch_size=1000,
        )
    names = [tag.name for tag in tags]
    hooks.run("tags_changed", member_ids=ids)
    audit.record_bulk(
        actor=actor,
        model=Member,
        pks=ids,
        changes={"tags": {"removed" if remove else "added": names}},
        reason="bulk tagging",
    )
    return len(ids)


def reveal(
    *, member: Member, actor: Any, fields: Iterable[str] = ("phone", "real_name")
) -> dict[str, str]:
    """Full personal data for an operator holding ``members.view_sensitive``; each
    reveal is written to the audit log."""
    require_if_operator(actor, P.MEMBERS_VIEW_SENSITIVE)
    fields = [name for name in fields if name in {"phone", "real_name", "addresses"}]
    values: dict[str, Any] = {}
    for name in fields:
        if name == "addresses":
            values["addresses"] = [
                {"recipient": a.recipient, "phone": a.phone, "detail": a.detail}
                for a in member.addresses.all()
            ]
        else:
            values[name] = getattr(member, name)
    audit.record(
        actor=actor,
        action=audit.Action.ACCESS,
        instance=member,
        changes={},
        additional={"revealed": fields},
    )
    return values
