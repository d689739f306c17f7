"""The order page: list with status tabs, detail with its allowed actions."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import RangeDateTimeFilter, RangeNumericFilter
from unfold.decorators import display

from miniops.accounts.context import operator_of
from miniops.core import audit_words
from miniops.core.console import (
    ConsoleModelAdmin,
    bulk_action,
    dialog_action,
    operator_has,
    redirect,
    show_in_dialog,
    site,
)
from miniops.core.money import format_fen
from miniops.core.permissions import P
from miniops.orders import exports, selectors, services
from miniops.orders.admin.common import (
    STATUS_LABELS,
    VIEW_ONLY,
    MemberFilter,
    ProductFilter,
    event_label,
    note_words,
    status_words,
)
from miniops.orders.forms import (
    NoteDialogForm,
    OptionalNoteDialogForm,
    ReasonDialogForm,
    ShipDialogForm,
)
from miniops.orders.models import (
    Order,
    OrderStatus,
)
from miniops.orders.services import privacy


@admin.register(Order, site=site)
class OrderAdmin(ConsoleModelAdmin):
    permissions = VIEW_ONLY
    change_list_template = "orders/order_changelist.html"
    change_form_template = "orders/order_detail.html"
    list_display = [
        "number",
        "member",
        "status_badge",
        "payable",
        "item_count",
        "created_at",
        "paid_at",
        "hold_reason",
    ]
    list_filter = [
        "status",
        ("created_at", RangeDateTimeFilter),
        ("paid_at", RangeDateTimeFilter),
        ("payable_amount", RangeNumericFilter),
        ProductFilter,
        MemberFilter,
    ]
    list_filter_submit = True
    search_fields = ["number"]
    search_help_text = _("Order number, exact phone (recipient or member) or nickname")
    list_select_related = ["member"]
    show_full_result_count = False
    fields = ["number", "status", "created_at"]
    readonly_fields = fields
    actions = ["export_csv", "export_xlsx"]
    actions_detail = ["ship", "cancel", "add_note", "sync_payment", "reveal"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return (
            super()
            .get_queryset(request)
            .annotate(n_items=Count("items"), refund_open=selectors.refund_open())
        )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> Any:
        # The "paid, to ship" tab lists only the orders that can be shipped now;
        # the ones on hold have a tab of their own, saying why.
        base = super().get_changelist(request, **kwargs)
        hold = request.GET.get("hold")

        class ToShip(base):  # type: ignore[misc, valid-type]
            def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> Any:
                queryset = super().get_queryset(request, exclude_parameters)
                if request.GET.get("status__exact") == OrderStatus.PAID:
                    queryset = queryset.filter(refund_open=hold == "1")
                return queryset

            def get_filters_params(self, params: Any = None) -> Any:
                found = super().get_filters_params(params)
                found.pop("hold", None)
                return found

        return ToShip

    @display(description=_("Can it ship?"))
    def hold_reason(self, obj: Order) -> str:
        if obj.status == OrderStatus.PAID and getattr(obj, "refund_open", False):
            return gettext("No: a refund request is open")
        return ""

    def get_list_display(self, request: HttpRequest) -> Any:
        # Operators who ship get a Ship button on each order that can ship now.
        shown = list(super().get_list_display(request))
        if operator_has(request, P.ORDERS_SHIP):
            shown[shown.index("hold_reason")] = "ship_or_why"
        return shown

    @display(description=_("Can it ship?"))
    def ship_or_why(self, obj: Order) -> str:
        if obj.status != OrderStatus.PAID:
            return ""
        if getattr(obj, "refund_open", False):
            return gettext("No: a refund request is open")
        url = reverse("console:orders_order_ship", args=[obj.pk])
        return format_html(
            '<a href="{}" hx-get="{}" hx-target="#modal-content" hx-select="#dialog" '
            'x-on:htmx:after-on-load="openModal = true" data-action="ship" '
            'class="inline-flex items-center gap-1 px-2 py-1 rounded-default border '
            'border-primary-600 text-primary-600 font-semibold">'
            '<span class="material-symbols-outlined md-18">local_shipping</span>{}</a>',
            url,
            url,
            gettext("Ship"),
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Order], search_term: str
    ) -> Any:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(pk__in=selectors.search_orders(search_term).values("pk")), False

    @display(description=_("Status"), label=STATUS_LABELS)
    def status_badge(self, obj: Order) -> Any:
        return obj.status, obj.get_status_display()

    @display(description=_("Payable"), ordering="payable_amount")
    def payable(self, obj: Order) -> str:
        return format_fen(obj.payable_amount)

    @display(description=_("Items"))
    def item_count(self, obj: Order) -> int:
        return getattr(obj, "n_items", 0)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        search = request.GET.get("q", "")
        counts = selectors.status_counts(search)
        current = request.GET.get("status__exact", "")
        on_hold = request.GET.get("hold") == "1"
        tabs = [
            {"label": _("All"), "value": "", "count": sum(counts.values()), "active": not current}
        ] + [
            {
                "label": label,
                "value": value,
                "count": counts[value],
                "active": current == value and not on_hold,
            }
            for value, label in OrderStatus.choices
        ]
        tabs.insert(
            3,
            {
                "label": _("Paid, on hold"),
                "value": "paid_on_hold",
                "status": OrderStatus.PAID,
                "hold": True,
                "count": counts["on_hold"],
                "active": current == OrderStatus.PAID and on_hold,
            },
        )
        return super().changelist_view(request, {**(extra_context or {}), "status_tabs": tabs})

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        order = (
            Order.objects.filter(pk=object_id)
            .prefetch_related(
                "items", "payments", "refunds", "events__actor", "notes__author", "after_sales"
            )
            .first()
        )
        context = dict(extra_context or {})
        if order is not None:
            from auditlog.models import LogEntry

            # Masked for everyone; "Show personal data" reveals it (a logged POST).
            context["order_detail"] = {
                "order": order,
                **privacy.masked(order),
                "may_reveal": operator_has(request, P.MEMBERS_VIEW_SENSITIVE),
                "timeline": [
                    {
                        "event": event,
                        "label": event_label(event.kind),
                        "to": status_words(event.to_status) if event.to_status else "",
                        "note": note_words(event.note),
                    }
                    for event in order.events.all()
                ],
                "audit": [
                    {"entry": entry, "summary": audit_words.summary(entry)}
                    for entry in LogEntry.objects.get_for_object(order).select_related(
                        "actor", "content_type"
                    )[:20]
                ],
            }
        return super().change_view(request, object_id, form_url, context)

    # --- actions --------------------------------------------------------------------------
    def _back(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        return redirect(request, reverse("console:orders_order_change", args=[object_id]))

    @dialog_action(
        permission=P.ORDERS_SHIP,
        description=_("Ship"),
        title=_("Ship this order"),
        url_path="ship",
        form_class=ShipDialogForm,
        icon="local_shipping",
        shown_if=lambda order: order.status == OrderStatus.PAID,
    )
    def ship(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        order = get_object_or_404(Order, pk=object_id)
        self.run_service(
            request,
            lambda: services.ship_order(
                order=order,
                carrier=form.cleaned_data["carrier"],
                tracking_no=form.cleaned_data["tracking_no"],
                actor=operator_of(request),
            ),
            _("Order shipped."),
        )
        # Shipped from the list: back to the list (the same tab and search).
        came_from = urlsplit(request.headers.get("HX-Current-URL", ""))
        if came_from.path == reverse("console:orders_order_changelist"):
            query = f"?{came_from.query}" if came_from.query else ""
            return redirect(request, came_from.path + query)
        return self._back(request, object_id)

    @dialog_action(
        permission=P.ORDERS_MANAGE,
        description=_("Cancel"),
        title=_("Cancel this unpaid order?"),
        text=_("Its stock is released."),
        url_path="cancel",
        form_class=ReasonDialogForm,
        submit=_("Cancel order"),
        icon="cancel",
        shown_if=lambda order: order.status == OrderStatus.UNPAID,
    )
    def cancel(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        order = get_object_or_404(Order, pk=object_id)
        self.run_service(
            request,
            lambda: services.cancel_order(
                order=order, actor=operator_of(request), reason=form.cleaned_data["reason"]
            ),
            _("Order cancelled."),
        )
        return self._back(request, object_id)

    @dialog_action(
        permission=P.ORDERS_MANAGE,
        description=_("Add note"),
        title=_("Internal note"),
        text=_("Only operators see it."),
        url_path="note",
        form_class=NoteDialogForm,
        submit=_("Save"),
        icon="sticky_note_2",
    )
    def add_note(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        order = get_object_or_404(Order, pk=object_id)
        self.run_service(
            request,
            lambda: services.add_note(
                order=order, text=form.cleaned_data["text"], actor=operator_of(request)
            ),
            _("Note added."),
        )
        return self._back(request, object_id)

    @dialog_action(
        permission=P.ORDERS_MANAGE,
        description=_("Ask WeChat Pay"),
        title=_("Ask WeChat Pay how this order's payment stands?"),
        url_path="sync-payment",
        form_class=OptionalNoteDialogForm,
        submit=_("Ask"),
        icon="sync",
    )
    def sync_payment(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        order = get_object_or_404(Order, pk=object_id)
        results = [services.sync_trade(p) for p in order.payments.filter(status="created")]
        messages.info(
            request, _("WeChat Pay says: %s") % (", ".join(results) or _("no open payment"))
        )
        return self._back(request, object_id)

    @dialog_action(
        permission=P.MEMBERS_VIEW_SENSITIVE,
        description=_("Show personal data"),
        title=_("Show the recipient's full name, phone and address?"),
        text=_("This view is written to the audit log with your name."),
        url_path="reveal",
        submit=_("Show"),
        icon="visibility",
    )
    def reveal(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        """The dialog's GET reveals nothing; its POST reveals and logs, and the answer
        replaces the dialog."""
        order = get_object_or_404(Order, pk=object_id)
        values = services.reveal(order=order, actor=operator_of(request))
        context = site.page_context(request, title=_("Personal data"), order=order, values=values)
        return show_in_dialog(request, TemplateResponse(request, "orders/revealed.html", context))

    @bulk_action(permission=P.ORDERS_EXPORT, description=_("Finance export (CSV)"), confirm=False)
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Order]) -> Any:
        return exports.export(
            queryset.order_by("created_at"), fmt="csv", actor=operator_of(request)
        )

    @bulk_action(permission=P.ORDERS_EXPORT, description=_("Finance export (XLSX)"), confirm=False)
    def export_xlsx(self, request: HttpRequest, queryset: QuerySet[Order]) -> Any:
        return exports.export(
            queryset.order_by("created_at"), fmt="xlsx", actor=operator_of(request)
        )
