"""Campaigns (create, edit drafts, dry run, start, pause, resume, cancel) and the
delivery ledger (with failure reasons; deliveries in doubt settled by hand)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from miniops.accounts.context import operator_of
from miniops.core import audiences
from miniops.core.console import (
    ConsoleModelAdmin,
    ReadOnlyConsoleAdmin,
    bulk_action,
    dialog_action,
    redirect,
    show_in_dialog,
    site,
)
from miniops.core.errors import DomainError, InvalidInput
from miniops.core.permissions import P
from miniops.notifications.models import Campaign, CampaignStatus, Delivery, MessageTemplate
from miniops.notifications.selectors import audience_label
from miniops.notifications.services import campaigns


class CampaignForm(forms.ModelForm):
    """The service's rules on the campaign the form would save."""

    class Meta:
        model = Campaign
        fields = [
            "name",
            "kind",
            "trigger",
            "trigger_value",
            "audience",
            "template",
            "data",
            "page",
            "coupon",
            "holdout_pct",
            "variants",
            "send_at",
            "cron",
            "quiet_policy",
            "attribution_days",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "audience" in self.fields:
            current = self.initial.get("audience") or ""
            picks = [
                (a.key, f"{a.label} ({a.count})" if a.count is not None else a.label)
                for a in audiences.choices()
            ]
            if current and current not in {key for key, _label in picks}:
                picks.append((current, current))
            self.fields["audience"] = forms.ChoiceField(
                label=self.fields["audience"].label,
                required=False,
                choices=[("", "—"), *picks],
                help_text=_("A segment or a member tag, with its number of members today."),
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        for name, value in data.items():
            setattr(self.instance, name, value)
        try:
            campaigns.validate(self.instance)
        except InvalidInput as exc:
            for field, message in exc.fields.items():
                self.add_error(field if field in self.fields else None, str(message))
            if not exc.fields:
                self.add_error(None, str(exc.message))
        except DomainError as exc:
            self.add_error("audience", str(exc.message))
        return data


def _back(request: HttpRequest, object_id: Any) -> HttpResponseBase:
    return redirect(request, reverse("console:notifications_campaign_change", args=[object_id]))


@admin.register(Campaign, site=site)
class CampaignAdmin(ConsoleModelAdmin):
    permissions = {
        "view": P.NOTIFICATIONS_VIEW,
        "add": P.NOTIFICATIONS_MANAGE,
        "change": P.NOTIFICATIONS_MANAGE,
        "delete": None,
    }
    form = CampaignForm
    list_display = [
        "name",
        "kind",
        "trigger",
        "audience_label",
        "template",
        "status",
        "holdout_pct",
        "next_run_at",
        "results_link",
    ]
    list_filter = ["status", "kind", "trigger"]
    search_fields = ["name"]
    readonly_fields = ["status", "started_at", "last_run_at", "next_run_at", "results_link"]
    actions_detail = ["dry_run", "start_now", "pause_now", "resume_now", "cancel_now"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "status", "results_link"]}),
        (
            _("Who and when"),
            {
                "fields": [
                    "audience",
                    "trigger",
                    "trigger_value",
                    "send_at",
                    "cron",
                    "quiet_policy",
                    "next_run_at",
                    "started_at",
                    "last_run_at",
                ]
            },
        ),
        (_("What"), {"fields": ["template", "data", "page", "coupon", "variants"]}),
        (_("Measurement"), {"fields": ["holdout_pct", "attribution_days"]}),
    ]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.related_model is MessageTemplate:
            kwargs["queryset"] = MessageTemplate.objects.filter(is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @display(description=_("audience"))
    def audience_label(self, obj: Campaign) -> str:
        """The audience as operators know it (“Segment: 新客”), never its key."""
        return audience_label(obj.audience)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or obj.status == CampaignStatus.DRAFT:
            return fieldsets
        # read-only: the label, not the key the picker stores
        return [
            (
                name,
                {
                    **opts,
                    "fields": ["audience_label" if f == "audience" else f for f in opts["fields"]],
                },
            )
            for name, opts in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.status != CampaignStatus.DRAFT:
            return [f for fs in self.get_fieldsets(request, obj) for f in fs[1]["fields"]]
        return self.readonly_fields

    @display(description=_("results"))
    def results_link(self, obj: Campaign) -> Any:
        if not obj.pk:
            return "—"
        url = reverse("console:notifications_results") + f"?campaign={obj.pk}"
        return format_html('<a class="underline" href="{}">{}</a>', url, gettext("Results"))

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        campaigns.save(campaign=obj, actor=operator_of(request))

    @dialog_action(
        permission=P.NOTIFICATIONS_MANAGE,
        description=_("Dry run"),
        title=_("Who would receive what?"),
        text=_(
            "Nothing is sent or written: the audience, who is left out and why, "
            "the control group and the first messages."
        ),
        url_path="dry-run",
        icon="preview",
        submit=_("Show"),
    )
    def dry_run(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        campaign = get_object_or_404(Campaign, pk=object_id)
        try:
            result = campaigns.dry_run(campaign=campaign)
            error = ""
        except DomainError as exc:
            result = {}
            error = "; ".join(str(v) for v in exc.fields.values()) or str(exc.message)
        context = site.page_context(
            request, title=_("Dry run"), campaign=campaign, result=result, error=error
        )
        return show_in_dialog(
            request, TemplateResponse(request, "notifications/dry_run.html", context)
        )

    @dialog_action(
        permission=P.NOTIFICATIONS_MANAGE,
        description=_("Start"),
        title=_("Start this campaign?"),
        text=_(
            "Members in the control group are recorded and never messaged. Sending to "
            "more members than the settings' threshold needs the 'send campaigns' permission."
        ),
        url_path="start",
        icon="send",
    )
    def start_now(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        campaign = get_object_or_404(Campaign, pk=object_id)
        result: dict[str, int] = {}

        def run() -> None:
            result.update(campaigns.start(campaign=campaign, actor=operator_of(request)))

        if self.run_service(request, run, gettext("Started.")):
            messages.info(
                request,
                gettext("%(treatment)d to send, %(control)d held out as the control group.")
                % {"treatment": result.get("treatment", 0), "control": result.get("control", 0)},
            )
        return _back(request, object_id)

    @dialog_action(
        permission=P.NOTIFICATIONS_MANAGE,
        description=_("Pause"),
        title=_("Pause this campaign?"),
        text=_("Nothing more is sent until it is resumed."),
        url_path="pause",
        icon="pause",
    )
    def pause_now(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        campaign = get_object_or_404(Campaign, pk=object_id)
        self.run_service(
            request,
            lambda: campaigns.pause(campaign=campaign, actor=operator_of(request)),
            gettext("Paused."),
        )
        return _back(request, object_id)

    @dialog_action(
        permission=P.NOTIFICATIONS_MANAGE,
        description=_("Resume"),
        title=_("Resume this campaign?"),
        url_path="resume",
        icon="play_arrow",
    )
    def resume_now(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        campaign = get_object_or_404(Campaign, pk=object_id)
        self.run_service(
            request,
            lambda: campaigns.resume(campaign=campaign, actor=operator_of(request)),
            gettext("Resumed."),
        )
        return _back(request, object_id)

    @dialog_action(
        permission=P.NOTIFICATIONS_MANAGE,
        description=_("Cancel"),
        title=_("Cancel this campaign?"),
        text=_("Messages not sent yet are cancelled; this cannot be undone."),
        url_path="cancel",
        icon="cancel",
    )
    def cancel_now(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        campaign = get_object_or_404(Campaign, pk=object_id)
        self.run_service(
            request,
            lambda: campaigns.cancel(campaign=campaign, actor=operator_of(request)),
            gettext("Cancelled."),
        )
        return _back(request, object_id)


@admin.register(Delivery, site=site)
class DeliveryAdmin(ReadOnlyConsoleAdmin):
    """The ledger: one row per campaign × member × occurrence, written by the engine."""

    permissions = {"view": P.NOTIFICATIONS_VIEW, "add": None, "change": None, "delete": None}
    list_display = [
        "campaign",
        "member",
        "group",
        "variant",
        "state",
        "reason",
        "errcode",
        "attempts",
        "sent_at",
        "detail",
    ]
    list_filter = ["state", "reason", "group", "campaign"]
    search_fields = ["key", "member__nickname"]
    list_select_related = ["campaign", "member"]
    raw_id_fields = ["member", "campaign"]
    actions = ["resend_doubt", "close_doubt"]

    @bulk_action(
        permission=P.NOTIFICATIONS_MANAGE,
        description=_("Send again (checked: it did not arrive)"),
        text=_(
            "Only deliveries in doubt are affected. Send again only when you know "
            "the member did not get it."
        ),
    )
    def resend_doubt(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        n = campaigns.settle_doubt(rows=list(queryset), actor=operator_of(request), resend=True)
        messages.success(request, gettext("%d deliveries queued again.") % n)

    @bulk_action(
        permission=P.NOTIFICATIONS_MANAGE,
        description=_("Close as failed"),
        text=_("Only deliveries in doubt are affected."),
    )
    def close_doubt(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        n = campaigns.settle_doubt(rows=list(queryset), actor=operator_of(request), resend=False)
        messages.success(request, gettext("%d deliveries closed.") % n)
