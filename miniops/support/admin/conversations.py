"""Conversations (read-only history with actions), quick replies, queues, agents."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline

from miniops.accounts.context import operator_of
from miniops.core.console import (
    ConsoleModelAdmin,
    ReadOnlyConsoleAdmin,
    dialog_action,
    operator_has,
    redirect,
    site,
)
from miniops.core.permissions import P
from miniops.support import services
from miniops.support.forms import SubscribeInsteadForm, TicketFromConversationForm
from miniops.support.models import (
    AgentStatus,
    Conversation,
    Message,
    Queue,
    QuickReply,
)

SETTINGS = {
    "view": P.SUPPORT_VIEW,
    "add": P.SUPPORT_MANAGE_SETTINGS,
    "change": P.SUPPORT_MANAGE_SETTINGS,
    "delete": P.SUPPORT_MANAGE_SETTINGS,
}


class MessageInline(TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ["seq", "created_at", "sender", "agent", "kind", "text"]
    readonly_fields = fields
    ordering = ["seq"]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.SUPPORT_VIEW)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conversation, site=site)
class ConversationAdmin(ReadOnlyConsoleAdmin):
    permissions = {"view": P.SUPPORT_VIEW, "add": None, "change": None, "delete": None}
    list_display = ["id", "member", "queue", "state", "assignee", "channel", "last_message_at"]
    list_filter = ["state", "queue", "channel"]
    search_fields = ["member__nickname", "=id"]
    list_select_related = ["member", "queue", "assignee"]
    inlines = [MessageInline]
    fields = [
        "member",
        "channel",
        "queue",
        "state",
        "assignee",
        "order",
        "product",
        "created_at",
        "assigned_at",
        "first_reply_at",
        "closed_at",
        "last_message_at",
    ]
    actions_detail = ["claim_it", "close_it", "reopen_it", "make_ticket", "subscribe_instead"]

    def _done(self, request: HttpRequest, object_id: Any) -> HttpResponseBase:
        return redirect(request, reverse("console:support_conversation_change", args=[object_id]))

    @dialog_action(
        permission=P.SUPPORT_CHAT,
        description=_("Claim"),
        title=_("Take this conversation?"),
        text=_("It moves to your inbox; the agent who had it is told."),
        url_path="claim",
        icon="front_hand",
    )
    def claim_it(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        conversation = get_object_or_404(Conversation, pk=object_id)
        self.run_service(
            request,
            lambda: services.claim(actor=operator_of(request), conversation_id=conversation.pk),
            gettext("The conversation is yours."),
        )
        return self._done(request, object_id)

    @dialog_action(
        permission=P.SUPPORT_CHAT,
        description=_("Close"),
        title=_("Close this conversation?"),
        text=_("The member is asked to rate it."),
        url_path="close",
        icon="check_circle",
    )
    def close_it(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        conversation = get_object_or_404(Conversation, pk=object_id)
        self.run_service(
            request,
            lambda: services.close(actor=operator_of(request), conversation_id=conversation.pk),
            gettext("Closed."),
        )
        return self._done(request, object_id)

    @dialog_action(
        permission=P.SUPPORT_CHAT,
        description=_("Reopen"),
        title=_("Reopen this conversation?"),
        text=_("It comes back to your inbox."),
        url_path="reopen",
        icon="replay",
    )
    def reopen_it(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        conversation = get_object_or_404(Conversation, pk=object_id)
        self.run_service(
            request,
            lambda: services.reopen(actor=operator_of(request), conversation_id=conversation.pk),
            gettext("Reopened."),
        )
        return self._done(request, object_id)

    @dialog_action(
        permission=P.SUPPORT_MANAGE_TICKETS,
        description=_("Create a ticket"),
        title=_("Create a ticket from this conversation"),
        url_path="ticket",
        icon="confirmation_number",
        form_class=TicketFromConversationForm,
    )
    def make_ticket(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        conversation = get_object_or_404(Conversation, pk=object_id)
        data = form.cleaned_data
        self.run_service(
            request,
            lambda: services.create_ticket(
                actor=operator_of(request),
                member=conversation.member,
                conversation_id=conversation.pk,
                order_id=conversation.order_id,
                category=data["category"],
                priority=data["priority"],
                subject=data["subject"],
            ),
            gettext("Ticket created."),
        )
        return self._done(request, object_id)

    @dialog_action(
        permission=P.SUPPORT_CHAT,
        description=_("Send a subscribe message"),
        title=_("Send a subscribe message instead?"),
        text=_(
            "WeChat's reply window is over (48 hours, 5 replies after the member's last "
            "message). The member gets the customer-service reply notice of the push "
            "settings, if they agreed to it."
        ),
        url_path="subscribe",
        icon="mark_email_unread",
        form_class=SubscribeInsteadForm,
    )
    def subscribe_instead(
        self, request: HttpRequest, form: Any, object_id: Any
    ) -> HttpResponseBase:
        conversation = get_object_or_404(Conversation, pk=object_id)
        self.run_service(
            request,
            lambda: services.send_subscribe_instead(
                actor=operator_of(request),
                conversation_id=conversation.pk,
                text=form.cleaned_data["text"],
            ),
            gettext("The subscribe message is on its way."),
        )
        return self._done(request, object_id)


class QuickReplyForm(forms.ModelForm):
    shared = forms.BooleanField(
        label=_("shared with every agent"),
        required=False,
        help_text=_("Needs the permission to manage customer-service settings."),
    )

    class Meta:
        model = QuickReply
        fields = ["shortcut", "title", "language", "text"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["shared"].initial = self.instance.owner_id is None


class QuickReplyAdmin(ConsoleModelAdmin):
    """Shared replies (``support.manage_settings``) and each agent's own."""

    permissions = {
        "view": P.SUPPORT_CHAT,
        "add": P.SUPPORT_CHAT,
        "change": P.SUPPORT_CHAT,
        "delete": P.SUPPORT_CHAT,
    }
    list_display = ["shortcut", "title", "language", "owner"]
    list_filter = ["language"]
    search_fields = ["shortcut", "title", "text"]
    form = QuickReplyForm
    fields = ["shortcut", "title", "language", "text", "shared"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[QuickReply]:
        return (
            super()
            .get_queryset(request)
            .filter(Q(owner__isnull=True) | Q(owner_id=request.user.pk))
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.owner_id is None:
            return operator_has(request, P.SUPPORT_MANAGE_SETTINGS)
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.owner_id is None:
            return operator_has(request, P.SUPPORT_MANAGE_SETTINGS)
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: QuickReply, form: Any, change: bool) -> None:
        data = form.cleaned_data
        saved = services.save_quick_reply(
            actor=operator_of(request),
            shortcut=data["shortcut"],
            title=data["title"],
            text=data["text"],
            language=data["language"],
            shared=bool(data.get("shared")),
            reply=obj if change else None,
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: QuickReply) -> None:
        services.delete_quick_reply(actor=operator_of(request), reply=obj)


site.register(QuickReply, QuickReplyAdmin)


@admin.register(Queue, site=site)
class QueueAdmin(ConsoleModelAdmin):
    permissions = SETTINGS
    list_display = ["name", "sort", "is_default", "active"]


@admin.register(AgentStatus, site=site)
class AgentStatusAdmin(ConsoleModelAdmin):
    permissions = {
        "view": P.SUPPORT_VIEW,
        "add": P.SUPPORT_SUPERVISE,
        "change": P.SUPPORT_SUPERVISE,
        "delete": None,
    }
    list_display = ["operator", "state", "load", "capacity", "last_seen_at"]
    list_filter = ["state"]
    fields = ["operator", "state", "capacity", "queues"]
    readonly_fields: list[str] = []
    formfield_overrides = {models.ManyToManyField: {"widget": forms.CheckboxSelectMultiple}}

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["operator"] if obj is not None else []
