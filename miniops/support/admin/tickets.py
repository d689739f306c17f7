"""Tickets with their timeline and state actions; SLA policies; calendars."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.decorators import display

from miniops.accounts.context import operator_of
from miniops.core.console import ConsoleModelAdmin, dialog_action, operator_has, redirect, site
from miniops.core.permissions import P
from miniops.support import services, sla
from miniops.support.admin.conversations import SETTINGS
from miniops.support.forms import TicketNoteForm, TicketReplyForm
from miniops.support.models import (
    BusinessCalendar,
    SlaPolicy,
    Ticket,
    TicketEvent,
    TicketState,
)


class TicketEventInline(TabularInline):
    model = TicketEvent
    extra = 0
    can_delete = False
    fields = ["at", "kind", "from_state", "to_state", "actor", "by_member", "text"]
    readonly_fields = fields

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.SUPPORT_VIEW)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TicketAddForm(forms.ModelForm):
    class Meta:
        model = Ticket
        fields = ["member", "order", "category", "priority", "subject", "description"]


@admin.register(Ticket, site=site)
class TicketAdmin(ConsoleModelAdmin):
    permissions = {
        "view": P.SUPPORT_VIEW,
        "add": P.SUPPORT_MANAGE_TICKETS,
        "change": None,
        "delete": None,
    }
    list_display = [
        "__str__",
        "member",
        "category",
        "priority",
        "state_label",
        "assignee",
        "sla",
        "created_at",
    ]
    list_filter = ["state", "category", "priority"]
    search_fields = ["subject", "member__nickname", "=id"]
    list_select_related = ["member", "assignee", "sla_policy__calendar"]
    inlines = [TicketEventInline]
    autocomplete_fields = ["member", "order"]
    readonly_fields = [
        "member",
        "order",
        "conversation",
        "category",
        "priority",
        "subject",
        "description",
        "images",
        "state",
        "assignee",
        "sla_policy",
        "created_at",
        "first_response_at",
        "resolved_at",
        "closed_at",
        "reopened",
    ]
    actions_detail = ["reply", "note", "take", "make_pending", "resolve", "close", "reopen"]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = TicketAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return TicketAddForm.Meta.fields
        return self.readonly_fields

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.inlines if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Ticket, form: Any, change: bool) -> None:
        data = form.cleaned_data
        ticket = services.create_ticket(
            actor=operator_of(request),
            member=data["member"],
            order_id=data["order"].pk if data.get("order") else None,
            category=data["category"],
            priority=data["priority"],
            subject=data["subject"],
            description=data.get("description") or "",
        )
        obj.pk = ticket.pk

    @display(description=_("state"), label=True)
    def state_label(self, obj: Ticket) -> str:
        return obj.get_state_display()

    @display(description=_("SLA"))
    def sla(self, obj: Ticket) -> str:
        if obj.sla_policy is None or obj.state in (TicketState.RESOLVED, TicketState.CLOSED):
            return "—"
        clocks = sla.clocks(obj, now=timezone.now())
        worst = max((c["ratio"] for c in clocks.values() if c["running"]), default=0.0)
        return f"{worst:.0%}"

    def _done(self, request: HttpRequest, object_id: Any) -> HttpResponseBase:
        return redirect(request, reverse("console:support_ticket_change", args=[object_id]))

    def _run(self, request: HttpRequest, object_id: Any, call: Any, done: str) -> Any:
        ticket = get_object_or_404(Ticket, pk=object_id)
        self.run_service(request, lambda: call(ticket, operator_of(request)), done)
        return self._done(request, object_id)

    @dialog_action(
        permission=P.SUPPORT_MANAGE_TICKETS,
        description=_("Reply"),
        title=_("Reply to the member"),
        url_path="reply",
        icon="reply",
        form_class=TicketReplyForm,
    )
    def reply(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        data = form.cleaned_data
        return self._run(
            request,
            object_id,
            lambda t, a: services.reply_to_ticket(
                actor=a, ticket_id=t.pk, text=data["text"], pending=data.get("pending", False)
            ),
            gettext("Replied."),
        )

    @dialog_action(
        permission=P.SUPPORT_MANAGE_TICKETS,
        description=_("Internal note"),
        title=_("Add an internal note"),
        url_path="note",
        icon="sticky_note_2",
        form_class=TicketNoteForm,
    )
    def note(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        text = form.cleaned_data["text"]
        return self._run(
            request,
            object_id,
            lambda t, a: services.reply_to_ticket(
                actor=a, ticket_id=t.pk, text=text, internal=True
            ),
            gettext("Noted."),
        )

    @dialog_action(
        permission=P.SUPPORT_MANAGE_TICKETS,
        description=_("Assign to me"),
        title=_("Take this ticket?"),
        url_path="take",
        icon="person_add",
    )
    def take(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        return self._run(
            request,
            object_id,
            lambda t, a: services.assign_ticket(actor=a, ticket_id=t.pk, assignee=a),
            gettext("Assigned to you."),
        )

    def _state_action(self, request: HttpRequest, object_id: Any, to: str) -> HttpResponseBase:
        return self._run(
            request,
            object_id,
            lambda t, a: services.change_ticket_state(actor=a, ticket_id=t.pk, to=to),
            gettext("Done."),
        )

    @dialog_action(
        permission=P.SUPPORT_MANAGE_TICKETS,
        description=_("Wait for the member"),
        title=_("Wait for the member?"),
        text=_("The SLA clocks stop while it waits."),
        url_path="pending",
        icon="hourglass_top",
    )
    def make_pending(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        return self._state_action(request, object_id, TicketState.PENDING)

    @dialog_action(
        permission=P.SUPPORT_MANAGE_TICKETS,
        description=_("Resolve"),
        title=_("Mark this ticket resolved?"),
        url_path="resolve",
        icon="task_alt",
    )
    def resolve(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        return self._state_action(request, object_id, TicketState.RESOLVED)

    @dialog_action(
        permission=P.SUPPORT_MANAGE_TICKETS,
        description=_("Close"),
        title=_("Close this ticket?"),
        url_path="close",
        icon="lock",
    )
    def close(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        return self._state_action(request, object_id, TicketState.CLOSED)

    @dialog_action(
        permission=P.SUPPORT_MANAGE_TICKETS,
        description=_("Reopen"),
        title=_("Reopen this ticket?"),
        url_path="reopen",
        icon="replay",
    )
    def reopen(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        return self._state_action(request, object_id, TicketState.OPEN)


@admin.register(SlaPolicy, site=site)
class SlaPolicyAdmin(ConsoleModelAdmin):
    permissions = SETTINGS
    list_display = [
        "name",
        "category",
        "priority",
        "first_response_minutes",
        "next_response_minutes",
        "resolution_minutes",
        "calendar",
        "active",
    ]


@admin.register(BusinessCalendar, site=site)
class BusinessCalendarAdmin(ConsoleModelAdmin):
    permissions = SETTINGS
    list_display = ["name", "time_zone", "opens", "closes"]
