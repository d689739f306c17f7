"""Member lists as CSV or XLSX: masked, unless the operator may see personal data.
Every export, masked or not, is written to the audit log. The file itself is
written by ``miniops.core.exports`` (formula cells escaped)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponseBase
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from miniops.core import exports
from miniops.core.exports import Column
from miniops.core.masking import mask_name, mask_phone
from miniops.core.permissions import P
from miniops.members.models import Member


def columns(*, unmasked: bool) -> list[Column[Member]]:
    return [
        Column(gettext_lazy("ID"), lambda m: m.pk),
        Column(gettext_lazy("Nickname"), lambda m: m.nickname),
        Column(gettext_lazy("Phone"), lambda m: m.phone if unmasked else mask_phone(m.phone)),
        Column(
            gettext_lazy("Real name"),
            lambda m: m.real_name if unmasked else mask_name(m.real_name),
        ),
        Column(gettext_lazy("Gender"), lambda m: m.get_gender_display()),
        Column(gettext_lazy("Province"), lambda m: m.province),
        Column(gettext_lazy("City"), lambda m: m.city),
        Column(gettext_lazy("Status"), lambda m: m.get_status_display()),
        Column(gettext_lazy("Registered"), lambda m: m.registered_at),
        Column(gettext_lazy("Registration channel"), lambda m: m.registration_channel),
        Column(gettext_lazy("Registration scene"), lambda m: m.registration_scene),
        Column(gettext_lazy("Tags"), lambda m: ",".join(tag.name for tag in m.tags.all())),
    ]


def export(members: QuerySet[Member], *, fmt: str, actor: Any) -> HttpResponseBase:
    unmasked = bool(actor is not None and actor.has_permission(P.MEMBERS_VIEW_SENSITIVE))
    count = members.count()
    table = columns(unmasked=unmasked)
    return exports.export(
        name="members",
        fmt=fmt,
        header=exports.header_of(table),
        rows=exports.rows_of(table, members.prefetch_related("tags").iterator(chunk_size=1000)),
        actor=actor,
        permission=P.MEMBERS_EXPORT,
        model=Member,
        description=_("Member export (%(n)d rows)") % {"n": count},
        additional={"rows": count, "unmasked": unmasked},
    )
