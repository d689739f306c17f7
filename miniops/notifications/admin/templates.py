"""Message templates (synced from WeChat, with their reach), consents, settings."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from miniops.accounts.context import operator_of
from miniops.core.console import (
    ConsoleModelAdmin,
    ReadOnlyConsoleAdmin,
    dialog_action,
    redirect,
    site,
)
from miniops.core.permissions import P
from miniops.notifications import selectors, services
from miniops.notifications.models import Consent, MessageTemplate, PushSettings

VIEW_ONLY = {"view": P.NOTIFICATIONS_VIEW, "add": None, "change": None, "delete": None}


@admin.register(MessageTemplate, site=site)
class MessageTemplateAdmin(ReadOnlyConsoleAdmin):
    """Templates come from WeChat (the account's "My templates"): synced, never typed."""

    permissions = VIEW_ONLY
    list_display = ["title", "wx_template_id", "kind", "keyword_rules", "reach", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["title", "wx_template_id"]
    actions_list = ["sync_from_wechat"]
    fields = [
        "title",
        "wx_template_id",
        "kind",
        "keywords",
        "content",
        "example",
        "is_active",
        "synced_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        self._reach = selectors.reachable_counts()
        return super().get_queryset(request)

    @display(description=_("keywords"))
    def keyword_rules(self, obj: MessageTemplate) -> str:
        return ", ".join(f"{k['key']} ({k['name']})" for k in obj.keywords if isinstance(k, dict))

    @display(description=_("members reachable"))
    def reach(self, obj: MessageTemplate) -> int:
        reach = getattr(self, "_reach", None)
        return reach.get(obj.pk, 0) if reach is not None else selectors.reachable_count(obj)

    @dialog_action(
        permission=P.NOTIFICATIONS_MANAGE_TEMPLATES,
        description=_("Sync from WeChat"),
        title=_("Sync the templates from WeChat?"),
        text=_(
            "New templates of the account are added, changed ones updated, removed ones "
            "marked inactive. Consents and past messages stay."
        ),
        url_path="sync",
        icon="sync",
    )
    def sync_from_wechat(self, request: HttpRequest, form: Any) -> HttpResponseBase:
        result: dict[str, int] = {}

        def run() -> None:
            result.update(services.sync_templates(actor=operator_of(request)))

        if self.run_service(request, run, gettext("Templates synced.")):
            messages.info(
                request,
                gettext("%(added)d added, %(updated)d updated, %(removed)d marked inactive.")
                % result,
            )
        return redirect(request, reverse("console:notifications_messagetemplate_changelist"))


@admin.register(Consent, site=site)
class ConsentAdmin(ReadOnlyConsoleAdmin):
    """Written by members' answers to wx.requestSubscribeMessage and by sends."""

    permissions = VIEW_ONLY
    list_display = ["member", "template", "remaining", "long_term", "last_choice", "updated_at"]
    list_filter = ["template", "last_choice", "long_term"]
    search_fields = ["member__nickname", "template__title"]
    list_select_related = ["member", "template"]
    raw_id_fields = ["member"]


@admin.register(PushSettings, site=site)
class PushSettingsAdmin(ConsoleModelAdmin):
    """One row: the list page opens it directly; no add, no delete."""

    permissions = {
        "view": P.NOTIFICATIONS_VIEW,
        "add": None,
        "change": P.NOTIFICATIONS_MANAGE,
        "delete": None,
    }
    fieldsets = [
        (
            _("Which template serves which notice"),
            {
                "fields": [
                    "order_shipped",
                    "refund_done",
                    "coupon_expiring",
                    "flash_reminder",
                    "service_reply",
                ]
            },
        ),
        (_("Quiet hours"), {"fields": ["quiet_start", "quiet_end", "quiet_policy"]}),
        (
            _("Limits and measurement"),
            {
                "fields": [
                    "daily_cap",
                    "weekly_cap",
                    "holdout_pct",
                    "attribution_days",
                    "approval_threshold",
                ]
            },
        ),
    ]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.related_model is MessageTemplate:
            kwargs["queryset"] = MessageTemplate.objects.filter(is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        if not self.has_view_permission(request) or request.method == "POST":
            raise PermissionDenied  # one row, no list and so no bulk actions
        row = selectors.push_settings()
        return HttpResponseRedirect(
            reverse("console:notifications_pushsettings_change", args=[row.pk])
        )

    def save_model(self, request: HttpRequest, obj: PushSettings, form: Any, change: bool) -> None:
        services.update_settings(actor=operator_of(request), instance=obj)
