"""Console pages for members: searchable list, member-360, tags, block / unblock,
masked exports, and revealing personal data (logged)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    RangeDateTimeFilter,
    RelatedDropdownFilter,
)
from unfold.decorators import display

from miniops.accounts.context import operator_of
from miniops.core.console import (
    ConsoleModelAdmin,
    DashboardWidget,
    bulk_action,
    dialog_action,
    operator_has,
    redirect,
    show_in_dialog,
    site,
)
from miniops.core.errors import DomainError
from miniops.core.masking import mask_name, mask_phone
from miniops.core.permissions import P
from miniops.members import exports, selectors, services
from miniops.members.channels import channel_label
from miniops.members.forms import BlockDialogForm, TagForm
from miniops.members.models import Member, MemberStatus, MemberTag


class ChannelFilter(admin.SimpleListFilter):
    title = _("registration channel")
    parameter_name = "channel"
    template = "unfold/filters/filters_field.html"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        channels = (
            Member.objects.exclude(registration_channel="")
            .values_list("registration_channel", flat=True)
            .distinct()
            .order_by("registration_channel")[:100]
        )
        return [(c, channel_label(c)) for c in channels]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Member]) -> QuerySet[Member]:
        return queryset.filter(registration_channel=self.value()) if self.value() else queryset


@admin.register(Member, site=site)
class MemberAdmin(ConsoleModelAdmin):
    permissions = {"view": P.MEMBERS_VIEW, "add": None, "change": P.MEMBERS_MANAGE, "delete": None}
    change_form_template = "members/member_360.html"
    list_display = [
        "avatar",
        "nickname_display",
        "phone_masked",
        "channel_display",
        "registration_scene",
        "status_badge",
        "tag_list",
        "registered_at",
    ]
    list_display_links = ["nickname_display"]

    @display(description=_("registration channel"), ordering="registration_channel")
    def channel_display(self, obj: Member) -> str:
        return channel_label(obj.registration_channel)

    list_filter = [
        ("status", ChoicesDropdownFilter),
        ("registered_at", RangeDateTimeFilter),
        ChannelFilter,
        ("tags", RelatedDropdownFilter),
    ]
    list_filter_submit = True
    search_fields = ["nickname"]  # extended in get_search_results (phone, openid)
    search_help_text = _("Nickname, exact phone number or openid")
    show_full_result_count = False
    fields = ["tags"]
    actions = ["tag_selected", "export_csv", "export_xlsx"]
    actions_detail = ["block", "unblock", "reveal"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Member]:
        return super().get_queryset(request).prefetch_related("tags")

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "tags":
            kwargs["widget"] = forms.CheckboxSelectMultiple
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Member], search_term: str
    ) -> Any:
        if not search_term.strip():
            return queryset, False
        matching = selectors.search_members(search_term).values("pk")
        return queryset.filter(pk__in=matching), False

    @display(description=_("Avatar"))
    def avatar(self, obj: Member) -> str:
        if not obj.avatar_url:
            return "—"
        return format_html(
            '<img src="{}" width="32" height="32" style="border-radius:50%" alt="">', obj.avatar_url
        )

    @display(description=_("Nickname"), ordering="nickname")
    def nickname_display(self, obj: Member) -> str:
        return obj.nickname or f"#{obj.pk}"

    @display(description=_("Phone"))
    def phone_masked(self, obj: Member) -> str:
        return mask_phone(obj.phone) or "—"

    @display(
        description=_("Status"),
        label={MemberStatus.ACTIVE: "success", MemberStatus.BLOCKED: "danger"},
    )
    def status_badge(self, obj: Member) -> Any:
        return obj.status, obj.get_status_display()

    @display(description=_("Tags"))
    def tag_list(self, obj: Member) -> str:
        return ", ".join(tag.name for tag in obj.tags.all())

    # --- member-360 ----------------------------------------------------------------------
    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        member = Member.objects.filter(pk=object_id).first()
        context = dict(extra_context or {})
        if member is not None:
            context["member_360"] = {
                "profile": selectors.masked_profile(member),
                "real_name": mask_name(member.real_name),
                "addresses": [
                    selectors.masked_address(a) for a in selectors.member_addresses(member.pk)
                ],
                "favourites": list(selectors.favourites(member.pk)[:12]),
                "history": list(selectors.history(member.pk)[:12]),
                "open_sessions": member.sessions.filter(
                    revoked_at__isnull=True, expires_at__gt=timezone.now()
                ).count(),
                "referrals": member.referrals.count(),
                "referrer": member.referrer,
                "blocked_reason": member.blocked_reason,
                "may_reveal": operator_has(request, P.MEMBERS_VIEW_SENSITIVE),
                "sections": site.sections_for(request, member),
            }
        return super().change_view(request, object_id, form_url, context)

    def save_model(self, request: HttpRequest, obj: Member, form: Any, change: bool) -> None:
        if "tags" not in form.changed_data:
            return
        actor = operator_of(request)
        before = set(Member.objects.get(pk=obj.pk).tags.all())
        after = set(form.cleaned_data["tags"])
        if after - before:
            services.tag_members(member_ids=[obj.pk], tags=after - before, actor=actor)
        if before - after:
            services.tag_members(member_ids=[obj.pk], tags=before - after, actor=actor, remove=True)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # tags were saved through the service above

    # --- actions -------------------------------------------------------------------------
    @bulk_action(
        permission=P.MEMBERS_MANAGE,
        description=_("Add or remove tags"),
        title=_("Tag members"),
        form_class=TagForm,
        submit=_("Apply"),
    )
    def tag_selected(
        self, request: HttpRequest, queryset: QuerySet[Member], form: TagForm
    ) -> HttpResponse | None:
        ids = list(queryset.values_list("pk", flat=True))
        try:
            count = services.tag_members(
                member_ids=ids,
                tags=form.cleaned_data["tags"],
                actor=operator_of(request),
                remove=form.cleaned_data["remove"],
            )
        except DomainError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, _("Tags updated on %(n)d member(s).") % {"n": count})
        return None

    @bulk_action(permission=P.MEMBERS_EXPORT, description=_("Export selected (CSV)"), confirm=False)
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Member]) -> Any:
        return exports.export(queryset.order_by("pk"), fmt="csv", actor=operator_of(request))

    @bulk_action(
        permission=P.MEMBERS_EXPORT, description=_("Export selected (XLSX)"), confirm=False
    )
    def export_xlsx(self, request: HttpRequest, queryset: QuerySet[Member]) -> Any:
        return exports.export(queryset.order_by("pk"), fmt="xlsx", actor=operator_of(request))

    def _back(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        return redirect(request, reverse("console:members_member_change", args=[object_id]))

    @dialog_action(
        permission=P.MEMBERS_MANAGE,
        description=_("Block"),
        title=_("Block this member?"),
        text=_("They are signed out at once and cannot sign in until unblocked."),
        url_path="block",
        form_class=BlockDialogForm,
        icon="block",
    )
    def block(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        member = get_object_or_404(Member, pk=object_id)
        self.run_service(
            request,
            lambda: services.block_member(
                member=member, actor=operator_of(request), reason=form.cleaned_data["reason"]
            ),
            _("Member blocked."),
        )
        return self._back(request, object_id)

    @dialog_action(
        permission=P.MEMBERS_MANAGE,
        description=_("Unblock"),
        title=_("Unblock this member?"),
        url_path="unblock",
        icon="lock_open",
    )
    def unblock(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        member = get_object_or_404(Member, pk=object_id)
        self.run_service(
            request,
            lambda: services.unblock_member(member=member, actor=operator_of(request)),
            _("Member unblocked."),
        )
        return self._back(request, object_id)

    @dialog_action(
        permission=P.MEMBERS_VIEW_SENSITIVE,
        description=_("Show personal data"),
        title=_("Show full personal data?"),
        text=_(
            "The member's full phone number, real name and addresses will be shown. "
            "This view is written to the audit log with your name."
        ),
        url_path="reveal",
        submit=_("Show"),
        icon="visibility",
    )
    def reveal(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        """Only the dialog's POST reveals (and logs) the data; the answer replaces
        the dialog, or is a page of its own without htmx."""
        member = get_object_or_404(Member, pk=object_id)
        values = services.reveal(
            member=member, actor=operator_of(request), fields=["phone", "real_name", "addresses"]
        )
        context = site.page_context(request, title=_("Personal data"), member=member, values=values)
        return show_in_dialog(request, TemplateResponse(request, "members/revealed.html", context))


@admin.register(MemberTag, site=site)
class MemberTagAdmin(ConsoleModelAdmin):
    permissions = {
        "view": P.MEMBERS_VIEW,
        "add": P.MEMBERS_MANAGE,
        "change": P.MEMBERS_MANAGE,
        "delete": P.MEMBERS_MANAGE,
    }
    list_display = ["name", "color", "description", "member_count"]
    search_fields = ["name"]

    @display(description=_("Members"))
    def member_count(self, obj: MemberTag) -> int:
        return obj.members.count()


def _member_numbers(request: HttpRequest) -> dict[str, Any]:
    from miniops.core.timeutils import day_bounds, local_date

    today_start, _end = day_bounds(local_date())
    return {
        "total": Member.objects.count(),
        "today": Member.objects.filter(registered_at__gte=today_start).count(),
        "week": Member.objects.filter(registered_at__gte=today_start - timedelta(days=6)).count(),
        "blocked": Member.objects.filter(status=MemberStatus.BLOCKED).count(),
    }


site.register_widget(
    DashboardWidget(
        "members",
        _("Members"),
        P.MEMBERS_VIEW,
        "members/widgets/numbers.html",
        _member_numbers,
        order=100,
    )
)
