"""The customer-service card on the console home, the figures page with its
export, and the member-360 section of conversations and tickets."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from miniops.accounts.context import operator_of
from miniops.core import exports
from miniops.core.console import DashboardWidget, DetailSection, operator_has, site
from miniops.core.permissions import P
from miniops.support import figures, selectors
from miniops.support.models import Conversation, Csat, Ticket, TicketState


def _card(request: HttpRequest) -> dict[str, Any]:
    first, last = figures.last_days(1)
    today = figures.daily(first, last)[0]
    counts = selectors.desk_counts()
    return {
        **counts,
        "open_tickets": Ticket.objects.filter(state=TicketState.OPEN).count(),
        "today": today,
        "may_chat": operator_has(request, P.SUPPORT_CHAT),
    }


site.register_widget(
    DashboardWidget(
        "support_desk",
        _("Customer service"),
        P.SUPPORT_VIEW,
        "support/widgets/desk.html",
        _card,
        order=60,
    )
)


def _member_support(request: HttpRequest, member: Any) -> dict[str, Any]:
    return {
        "conversations": list(
            Conversation.objects.filter(member=member).select_related("assignee")[:5]
        ),
        "tickets": list(Ticket.objects.filter(member=member)[:5]),
        "csat": list(Csat.objects.filter(conversation__member=member)[:5]),
    }


site.register_section(
    DetailSection(
        "members.member",
        "support",
        _("Customer service"),
        P.SUPPORT_VIEW,
        "support/member_support.html",
        _member_support,
        order=40,
    )
)


class RangeForm(forms.Form):
    days = forms.TypedChoiceField(
        label=_("period"),
        coerce=int,
        initial=7,
        choices=[(7, _("7 days")), (30, _("30 days")), (90, _("90 days"))],
    )
    fmt = forms.ChoiceField(
        required=False, choices=[("", "html"), ("csv", "CSV"), ("xlsx", "XLSX")]
    )


COLUMNS = [
    ("day", _("Day")),
    ("conversations", _("Conversations")),
    ("first_response_minutes", _("First response, chat (min)")),
    ("tickets", _("Tickets")),
    ("ticket_first_response_minutes", _("First response, tickets (min)")),
    ("resolution_minutes", _("Resolution (min)")),
    ("sla_attainment", _("SLA attained (%)")),
    ("csat_average", _("CSAT (1-5)")),
    ("csat_satisfied", _("Satisfied (%)")),
]


@site.register_page(
    name="support_figures",
    route="support/figures/",
    permission=P.SUPPORT_VIEW,
    title=_("Service figures"),
    icon="monitoring",
)
def figures_page(request: HttpRequest) -> HttpResponseBase:
    form = RangeForm(request.GET or {"days": 7})
    days = form.cleaned_data["days"] if form.is_valid() else 7
    first, last = figures.last_days(days)
    rows = figures.daily(first, last)
    fmt = form.cleaned_data.get("fmt") if form.is_valid() else ""
    if fmt in exports.FORMATS:
        return exports.export(
            name="service-figures",
            fmt=fmt,
            header=[label for _key, label in COLUMNS],
            rows=([row[key] for key, _label in COLUMNS] for row in rows),
            actor=operator_of(request),
            permission=P.SUPPORT_VIEW,
            model=Ticket,
            description="service figures",
            additional={"days": days},
        )
    context = site.page_context(
        request,
        title=_("Service figures"),
        form=form,
        columns=COLUMNS,
        rows=[[row[key] for key, _label in COLUMNS] for row in rows],
        backlog=figures.backlog(),
        days=days,
    )
    return TemplateResponse(request, "support/figures.html", context)
