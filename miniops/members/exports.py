"""Member lists as CSV or XLSX: masked, unless the operator may see personal data
(and then the export is written to the audit log)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core import audit
from miniops.core.masking import mask_name, mask_phone
from miniops.core.permissions import P
from miniops.members.models import Member

COLUMNS = [
    "id",
    "nickname",
    "phone",
    "real_name",
    "gender",
    "province",
    "city",
    "status",
    "registered_at",
    "registration_channel",
    "registration_scene",
    "tags",
]


def _rows(members: QuerySet[Member], unmasked: bool) -> Iterator[list[Any]]:
    for member in members.prefetch_related("tags").iterator(chunk_size=1000):
        yield [
            member.pk,
            member.nickname,
            member.phone if unmasked else mask_phone(member.phone),
            member.real_name if unmasked else mask_name(member.real_name),
            member.get_gender_display(),
            member.province,
            member.city,
            member.get_status_display(),
            timezone.localtime(member.registered_at).strftime("%Y-%m-%d %H:%M"),
            member.registration_channel,
            member.registration_scene or "",
            ",".join(tag.name for tag in member.tags.all()),
        ]


class _Echo:
    def write(self, value: str) -> str:
        return value


def export(
    members: QuerySet[Member], *, fmt: str, actor: Any
) -> HttpResponse | StreamingHttpResponse:
    unmasked = bool(actor is not None and actor.has_permission(P.MEMBERS_VIEW_SENSITIVE))
    count = members.count()
    audit.record(
        actor=actor,
        action=audit.Action.ACCESS,
        model=Member,
        object_repr=_("Member export (%(n)d rows)") % {"n": count},
        additional={"export": fmt, "rows": count, "unmasked": unmasked},
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    header = [_(c) for c in COLUMNS]
    if fmt == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("members")
        sheet.append(header)
        for row in _rows(members, unmasked):
            sheet.append(row)
        buffer = io.BytesIO()
        workbook.save(buffer)
        response = HttpResponse(
            buffer.getvalue(),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = f'attachment; filename="members-{stamp}.xlsx"'
        return response
    writer = csv.writer(_Echo())

    def stream() -> Iterator[str]:
        yield "\ufeff"  # so Excel opens UTF-8 Chinese correctly
        yield writer.writerow(header)
        for row in _rows(members, unmasked):
            yield writer.writerow(row)

    streaming = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    streaming["Content-Disposition"] = f'attachment; filename="members-{stamp}.csv"'
    return streaming
