"""The ``tag`` audience kind (``tag:<tag name>``) for coupons, pushes and the CMS."""

from __future__ import annotations

from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from miniops.core import audiences
from miniops.members.models import Member, MemberTag


def _tag(ref: str) -> MemberTag:
    tag = MemberTag.objects.filter(name=ref).first()
    if tag is None:
        raise audiences.UnknownAudience(
            _("No member tag is called “%(name)s”.") % {"name": ref[:40]},
            fields={"audience": _("Pick an audience from the list.")},
        )
    return tag


def _choices() -> list[audiences.Choice]:
    tags = MemberTag.objects.annotate(n=Count("members")).order_by("name")
    return [audiences.Choice(tag.name, tag.name, tag.n) for tag in tags]


def _member_ids(ref: str) -> list[int]:
    return list(_tag(ref).members.values_list("pk", flat=True))


def _count(ref: str) -> int:
    return _tag(ref).members.count()


def _contains(ref: str, member_id: int) -> bool:
    return Member.objects.filter(pk=member_id, tags=_tag(ref)).exists()


def _describe(ref: str) -> str:
    return str(_("Tag: %(name)s") % {"name": _tag(ref).name})


def register() -> None:
    audiences.register(
        "tag",
        label=_("Member tag"),
        choices=_choices,
        member_ids=_member_ids,
        count=_count,
        contains=_contains,
        describe=_describe,
    )
