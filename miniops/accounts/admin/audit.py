"""The audit log, read-only."""

from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import RangeDateTimeFilter, RelatedDropdownFilter
from unfold.decorators import display

from miniops.core import audit_words
from miniops.core.console import (
    ReadOnlyConsoleAdmin,
    site,
)
from miniops.core.permissions import P


@admin.register(LogEntry, site=site)
class AuditLogAdmin(ReadOnlyConsoleAdmin):
    permissions = {"view": P.AUDIT_VIEW, "add": None, "change": None, "delete": None}
    list_display = [
        "timestamp",
        "actor",
        "action_badge",
        "content_type",
        "object_repr",
        "remote_addr",
    ]
    list_filter = [
        ("timestamp", RangeDateTimeFilter),
        "action",
        ("actor", RelatedDropdownFilter),
        ("content_type", RelatedDropdownFilter),
    ]
    list_filter_submit = True
    search_fields = ["object_repr", "object_pk", "actor__username", "remote_addr"]
    list_select_related = ["actor", "content_type"]
    show_full_result_count = False
    date_hierarchy = None
    fields = [
        "timestamp",
        "actor",
        "actor_email",
        "action",
        "content_type",
        "object_pk",
        "object_repr",
        "changes_table",
        "remote_addr",
        "cid",
        "additional_data",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields

    @display(description=_("Action"), label={0: "success", 1: "info", 2: "danger", 3: "warning"})
    def action_badge(self, obj: LogEntry) -> Any:
        return obj.action, obj.get_action_display()

    @display(description=_("Changes"))
    def changes_table(self, obj: LogEntry) -> str:
        rows = [(c.field, c.before, c.after) for c in audit_words.changes(obj)]
        return render_to_string("accounts/audit_changes.html", {"rows": rows})

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        if request.method == "POST":  # no bulk actions on audit rows, whoever asks
            raise PermissionDenied
        return super().changelist_view(request, extra_context)

    def get_actions(self, request: HttpRequest) -> Any:
        return {}
