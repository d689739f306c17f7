"""After-sale requests: approve, reject, receive the return."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import RangeDateTimeFilter
from unfold.decorators import display

from miniops.accounts.context import operator_of
from miniops.core.console import (
    ConsoleModelAdmin,
    dialog_action,
    redirect,
    site,
)
from miniops.core.money import format_fen
from miniops.core.permissions import P
from miniops.orders import services
from miniops.orders.admin.common import VIEW_ONLY
from miniops.orders.forms import (
    OptionalNoteDialogForm,
    ReasonDialogForm,
)
from miniops.orders.models import (
    AfterSale,
    AfterSaleStatus,
)
from miniops.orders.services import aftersales


@admin.register(AfterSale, site=site)
class AfterSaleAdmin(ConsoleModelAdmin):
    permissions = VIEW_ONLY
    list_display = [
        "number",
        "order",
        "kind",
        "status_badge",
        "amount_display",
        "reason_display",
        "created_at",
    ]
    list_filter = ["status", "kind", ("created_at", RangeDateTimeFilter)]
    search_fields = ["number", "order__number"]
    list_select_related = ["order"]
    fields = [
        "number",
        "order",
        "member",
        "kind",
        "status",
        "reason_display",
        "description",
        "images_display",
        "lines_display",
        "amount_display",
        "include_shipping",
        "decided_by",
        "decision_note",
        "return_carrier",
        "return_tracking_no",
        "created_at",
    ]
    readonly_fields = fields
    actions_detail = ["approve", "reject", "receive_return"]

    @display(
        description=_("Status"),
        label={
            AfterSaleStatus.REQUESTED: "warning",
            AfterSaleStatus.REFUNDED: "success",
            AfterSaleStatus.REJECTED: "danger",
        },
    )
    def status_badge(self, obj: AfterSale) -> Any:
        return obj.status, obj.get_status_display()

    @display(description=_("Refund amount"))
    def amount_display(self, obj: AfterSale) -> str:
        return format_fen(obj.amount)

    @display(description=_("reason"), ordering="reason")
    def reason_display(self, obj: AfterSale) -> str:
        return str(aftersales.REASONS.get(obj.reason, obj.reason))

    @display(description=_("Lines"))
    def lines_display(self, obj: AfterSale) -> str:
        from django.utils.html import format_html_join

        lines = [line for line in obj.lines or [] if isinstance(line, dict)]
        titles = dict(
            obj.order.items.filter(pk__in=[line.get("item_id") for line in lines]).values_list(
                "pk", "title"
            )
        )
        return (
            format_html_join(
                "",
                "<div>{} × {} · {}</div>",
                (
                    (
                        titles.get(int(line.get("item_id") or 0), "—"),
                        line.get("quantity", "—"),
                        format_fen(int(line.get("amount") or 0)),
                    )
                    for line in lines
                ),
            )
            or "—"
        )

    @display(description=_("Images"))
    def images_display(self, obj: AfterSale) -> str:
        from django.utils.html import format_html_join

        return (
            format_html_join(
                " ",
                '<a href="{}" target="_blank">'
                '<img src="{}" width="64" height="64" style="object-fit:cover" alt=""></a>',
                ((u, u) for u in obj.images),
            )
            or "—"
        )

    def _back(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        return redirect(request, reverse("console:orders_aftersale_change", args=[object_id]))

    def _decide(self, request: HttpRequest, object_id: Any, call: Any, done: Any) -> HttpResponse:
        after_sale = get_object_or_404(AfterSale.objects.select_related("order"), pk=object_id)
        self.run_service(request, lambda: call(after_sale), done)
        return self._back(request, object_id)

    @dialog_action(
        permission=P.ORDERS_REFUND,
        description=_("Approve"),
        title=_("Approve this request?"),
        text=_("Refund-only requests are refunded at once; returns wait for the goods."),
        url_path="approve",
        form_class=OptionalNoteDialogForm,
        icon="task_alt",
    )
    def approve(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        return self._decide(
            request,
            object_id,
            lambda a: services.approve(
                after_sale=a, actor=operator_of(request), note=form.cleaned_data.get("note", "")
            ),
            _("Approved."),
        )

    @dialog_action(
        permission=P.ORDERS_REFUND,
        description=_("Reject"),
        title=_("Reject this request?"),
        text=_("The member sees your reason."),
        url_path="reject",
        form_class=ReasonDialogForm,
        icon="block",
    )
    def reject(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        return self._decide(
            request,
            object_id,
            lambda a: services.reject(
                after_sale=a, actor=operator_of(request), note=form.cleaned_data["reason"]
            ),
            _("Rejected."),
        )

    @dialog_action(
        permission=P.ORDERS_REFUND,
        description=_("Goods received"),
        title=_("The returned goods arrived?"),
        text=_("They go back into stock and the refund starts."),
        url_path="receive",
        form_class=OptionalNoteDialogForm,
        submit=_("Confirm"),
        icon="inventory",
    )
    def receive_return(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        return self._decide(
            request,
            object_id,
            lambda a: services.receive_return(after_sale=a, actor=operator_of(request)),
            _("Goods received; refunding."),
        )
