"""Console pages for orders: the list with status tabs, the order page with its
allowed actions, after-sales, payments and refunds, freight templates, bulk
shipping, finance export and the reconciliation report."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from unfold.admin import StackedInline, TabularInline
from unfold.contrib.filters.admin import RangeDateTimeFilter, RangeNumericFilter
from unfold.decorators import action, display

from miniops.accounts.context import operator_of
from miniops.core.console import (
    ConsoleModelAdmin,
    DashboardWidget,
    DetailSection,
    ReadOnlyConsoleAdmin,
    mark_invalid_post,
    operator_has,
    redirect,
    site,
)
from miniops.core.errors import DomainError
from miniops.core.masking import mask_name, mask_phone
from miniops.core.money import format_fen
from miniops.core.permissions import P
from miniops.core.timeutils import day_bounds, local_date, range_bounds
from miniops.orders import exports, selectors, services
from miniops.orders.forms import (
    BulkShipForm,
    DateRangeForm,
    NoteDialogForm,
    OptionalNoteDialogForm,
    ReasonDialogForm,
    ShipDialogForm,
)
from miniops.orders.models import (
    AfterSale,
    AfterSaleStatus,
    FreightRule,
    FreightTemplate,
    Order,
    OrderStatus,
    Payment,
    PaymentAnomaly,
    ProductFreight,
    Refund,
)

VIEW_ONLY: dict[str, str | None] = {
    "view": P.ORDERS_VIEW,
    "add": None,
    "change": None,
    "delete": None,
}
STATUS_LABELS = {
    OrderStatus.UNPAID: "warning",
    OrderStatus.PAID: "info",
    OrderStatus.SHIPPED: "primary",
    OrderStatus.COMPLETED: "success",
    OrderStatus.CANCELLED: "default",
    OrderStatus.CLOSED: "danger",
}


class ProductFilter(admin.SimpleListFilter):
    title = _("product id")
    parameter_name = "product"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        return []

    def has_output(self) -> bool:
        return False  # set through links (?product=<id>) from product pages

    def queryset(self, request: HttpRequest, queryset: QuerySet[Order]) -> QuerySet[Order]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(items__product_id=int(value)).distinct()
        return queryset


class MemberFilter(ProductFilter):
    title = _("member id")
    parameter_name = "member"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Order]) -> QuerySet[Order]:
        value = self.value()
        return queryset.filter(member_id=int(value)) if value and value.isdigit() else queryset


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
    actions_detail = ["ship", "cancel", "add_note", "sync_payment"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return super().get_queryset(request).annotate(n_items=Count("items"))

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
        counts = selectors.status_counts()
        current = request.GET.get("status__exact", "")
        tabs = [
            {"label": _("All"), "value": "", "count": sum(counts.values()), "active": not current}
        ] + [
            {"label": label, "value": value, "count": counts[value], "active": current == value}
            for value, label in OrderStatus.choices
        ]
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

            sensitive = operator_has(request, P.MEMBERS_VIEW_SENSITIVE)
            context["order_detail"] = {
                "order": order,
                "recipient": order.recipient if sensitive else mask_name(order.recipient),
                "phone": order.phone if sensitive else mask_phone(order.phone),
                "address": f"{order.province} {order.city} {order.district} "
                + (order.address_detail if sensitive else "****"),
                "audit": LogEntry.objects.get_for_object(order).select_related("actor")[:20],
            }
            if sensitive:
                from miniops.core import audit

                audit.record(
                    actor=operator_of(request),
                    action=audit.Action.ACCESS,
                    instance=order,
                    additional={"revealed": ["delivery address"]},
                )
        return super().change_view(request, object_id, form_url, context)

    # --- actions --------------------------------------------------------------------------
    def has_ship_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_SHIP)

    def has_manage_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_MANAGE)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj)

    def has_note_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_VIEW)

    def has_export_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_EXPORT)

    def _back(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        return redirect(request, reverse("console:orders_order_change", args=[object_id]))

    @action(
        description=_("Ship"),
        url_path="ship",
        permissions=["ship"],
        icon="local_shipping",
        dialog={
            "title": _("Ship this order"),
            "description": "",
            "form_class": ShipDialogForm,
            "form_submit_text": _("Ship"),
        },
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
        return self._back(request, object_id)

    @action(
        description=_("Cancel"),
        url_path="cancel",
        permissions=["manage"],
        icon="cancel",
        dialog={
            "title": _("Cancel this unpaid order?"),
            "description": _("Its stock is released."),
            "form_class": ReasonDialogForm,
            "form_submit_text": _("Cancel order"),
        },
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

    @action(
        description=_("Add note"),
        url_path="note",
        permissions=["note"],
        icon="sticky_note_2",
        dialog={
            "title": _("Internal note"),
            "description": _("Only operators see it."),
            "form_class": NoteDialogForm,
            "form_submit_text": _("Save"),
        },
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

    @action(
        description=_("Ask WeChat Pay"),
        url_path="sync-payment",
        permissions=["manage"],
        icon="sync",
        dialog={
            "title": _("Ask WeChat Pay how this order's payment stands?"),
            "description": "",
            "form_class": OptionalNoteDialogForm,
            "form_submit_text": _("Ask"),
        },
    )
    def sync_payment(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        order = get_object_or_404(Order, pk=object_id)
        results = [services.sync_trade(p) for p in order.payments.filter(status="created")]
        messages.info(
            request, _("WeChat Pay says: %s") % (", ".join(results) or _("no open payment"))
        )
        return self._back(request, object_id)

    @admin.action(description=_("Finance export (CSV)"), permissions=["export"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Order]) -> Any:
        return exports.export(
            queryset.order_by("created_at"), fmt="csv", actor=operator_of(request)
        )

    @admin.action(description=_("Finance export (XLSX)"), permissions=["export"])
    def export_xlsx(self, request: HttpRequest, queryset: QuerySet[Order]) -> Any:
        return exports.export(
            queryset.order_by("created_at"), fmt="xlsx", actor=operator_of(request)
        )


@admin.register(AfterSale, site=site)
class AfterSaleAdmin(ConsoleModelAdmin):
    permissions = VIEW_ONLY
    list_display = [
        "number",
        "order",
        "kind",
        "status_badge",
        "amount_display",
        "reason",
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
        "reason",
        "description",
        "images_display",
        "lines",
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

    def has_refund_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_REFUND)

    def _back(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        return redirect(request, reverse("console:orders_aftersale_change", args=[object_id]))

    def _decide(self, request: HttpRequest, object_id: Any, call: Any, done: Any) -> HttpResponse:
        after_sale = get_object_or_404(AfterSale.objects.select_related("order"), pk=object_id)
        self.run_service(request, lambda: call(after_sale), done)
        return self._back(request, object_id)

    @action(
        description=_("Approve"),
        url_path="approve",
        permissions=["refund"],
        icon="task_alt",
        dialog={
            "title": _("Approve this request?"),
            "description": _(
                "Refund-only requests are refunded at once; returns wait for the goods."
            ),
            "form_class": OptionalNoteDialogForm,
            "form_submit_text": _("Approve"),
        },
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

    @action(
        description=_("Reject"),
        url_path="reject",
        permissions=["refund"],
        icon="block",
        dialog={
            "title": _("Reject this request?"),
            "description": _("The member sees your reason."),
            "form_class": ReasonDialogForm,
            "form_submit_text": _("Reject"),
        },
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

    @action(
        description=_("Goods received"),
        url_path="receive",
        permissions=["refund"],
        icon="inventory",
        dialog={
            "title": _("The returned goods arrived?"),
            "description": _("They go back into stock and the refund starts."),
            "form_class": OptionalNoteDialogForm,
            "form_submit_text": _("Confirm"),
        },
    )
    def receive_return(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        return self._decide(
            request,
            object_id,
            lambda a: services.receive_return(after_sale=a, actor=operator_of(request)),
            _("Goods received; refunding."),
        )


@admin.register(Payment, site=site)
class PaymentAdmin(ReadOnlyConsoleAdmin):
    permissions = VIEW_ONLY
    list_display = [
        "out_trade_no",
        "order",
        "status",
        "amount_display",
        "transaction_id",
        "created_at",
        "paid_at",
    ]
    list_filter = ["status", ("paid_at", RangeDateTimeFilter)]
    search_fields = ["out_trade_no", "transaction_id", "order__number"]
    list_select_related = ["order"]
    show_full_result_count = False

    @display(description=_("Amount"))
    def amount_display(self, obj: Payment) -> str:
        return format_fen(obj.amount)

    def get_actions(self, request: HttpRequest) -> Any:
        return {}


@admin.register(Refund, site=site)
class RefundAdmin(ReadOnlyConsoleAdmin):
    permissions = VIEW_ONLY
    list_display = [
        "out_refund_no",
        "order",
        "status",
        "amount_display",
        "reason",
        "created_at",
        "succeeded_at",
    ]
    list_filter = ["status"]
    search_fields = ["out_refund_no", "order__number", "refund_id"]
    list_select_related = ["order"]

    @display(description=_("Amount"))
    def amount_display(self, obj: Refund) -> str:
        return format_fen(obj.amount)

    def get_actions(self, request: HttpRequest) -> Any:
        return {}


@admin.register(PaymentAnomaly, site=site)
class PaymentAnomalyAdmin(ReadOnlyConsoleAdmin):
    permissions = {"view": P.ORDERS_EXPORT, "add": None, "change": None, "delete": None}
    list_display = ["created_at", "kind", "order", "out_trade_no", "detail", "resolved_at"]
    list_filter = ["kind", "resolved_at"]
    actions_detail = ["resolve"]

    def has_resolve_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_EXPORT)

    @action(
        description=_("Mark resolved"),
        url_path="resolve",
        permissions=["resolve"],
        icon="done",
        dialog={
            "title": _("Mark this anomaly resolved?"),
            "description": "",
            "form_class": OptionalNoteDialogForm,
            "form_submit_text": _("Resolve"),
        },
    )
    def resolve(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        from miniops.core import audit

        anomaly = get_object_or_404(PaymentAnomaly, pk=object_id)
        PaymentAnomaly.objects.filter(pk=anomaly.pk, resolved_at__isnull=True).update(
            resolved_at=timezone.now()
        )
        audit.record(
            actor=operator_of(request),
            action=audit.Action.UPDATE,
            instance=anomaly,
            changes={"resolved": [False, True]},
            additional={"note": form.cleaned_data.get("note", "")},
        )
        return redirect(request, reverse("console:orders_paymentanomaly_change", args=[object_id]))

    def get_actions(self, request: HttpRequest) -> Any:
        return {}


class FreightRuleInline(StackedInline):
    model = FreightRule
    extra = 0
    fields = ["provinces", "first_fee", "additional_fee", "no_delivery"]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_VIEW)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_SETTINGS)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_SETTINGS)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_SETTINGS)


class ProductFreightInline(TabularInline):
    """The products that ship with this template instead of the default one."""

    model = ProductFreight
    extra = 0
    fields = ["product"]
    autocomplete_fields = ["product"]
    verbose_name = _("product using this template")
    verbose_name_plural = _("products using this template")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_VIEW)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_SETTINGS)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_SETTINGS)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_SETTINGS)


@admin.register(FreightTemplate, site=site)
class FreightTemplateAdmin(ConsoleModelAdmin):
    permissions = {
        "view": P.ORDERS_VIEW,
        "add": P.ORDERS_SETTINGS,
        "change": P.ORDERS_SETTINGS,
        "delete": P.ORDERS_SETTINGS,
    }
    list_display = [
        "name",
        "charge_by",
        "first_units",
        "first_fee",
        "additional_units",
        "additional_fee",
        "free_over",
        "is_default",
    ]
    inlines = [FreightRuleInline, ProductFreightInline]


# --- custom pages ---------------------------------------------------------------------------------
@site.register_page(
    name="orders_bulk_ship",
    route="orders/bulk-ship/",
    permission=P.ORDERS_SHIP,
    title=_("Bulk ship"),
    icon="upload_file",
)
def bulk_ship_page(request: HttpRequest) -> HttpResponse:
    form = BulkShipForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        try:
            result = services.bulk_ship(
                csv_text=form.cleaned_data["file"], actor=operator_of(request)
            )
        except DomainError as exc:
            form.add_error(None, str(exc.message))
    context = site.page_context(request, title=_("Bulk ship"), form=form, result=result)
    response = TemplateResponse(request, "orders/bulk_ship.html", context)
    return mark_invalid_post(request, response) if result is None else response


@site.register_page(
    name="orders_reconciliation",
    route="orders/reconciliation/",
    permission=P.ORDERS_EXPORT,
    title=_("Reconciliation"),
    icon="rule",
)
def reconciliation_page(request: HttpRequest) -> Any:
    today = local_date()
    form = DateRangeForm(
        request.GET or {"start": today - timedelta(days=6), "end": today, "fmt": "html"}
    )
    report = None
    if form.is_valid():
        start, end = range_bounds(form.cleaned_data["start"], form.cleaned_data["end"])
        if form.cleaned_data.get("fmt") in {"csv", "xlsx"}:
            orders = Order.objects.filter(paid_at__gte=start, paid_at__lt=end).order_by("paid_at")
            return exports.export(orders, fmt=form.cleaned_data["fmt"], actor=operator_of(request))
        report = selectors.reconciliation(start, end)
    context = site.page_context(request, title=_("Reconciliation"), form=form, report=report)
    response = TemplateResponse(request, "orders/reconciliation.html", context)
    if request.GET and not form.is_valid():
        response.status_code = 400
    return response


# --- home card and member-360 -------------------------------------------------------
def _today(request: HttpRequest) -> dict[str, Any]:
    start, end = day_bounds(local_date())
    paid = Order.objects.filter(paid_at__gte=start, paid_at__lt=end)
    sums = paid.aggregate(n=Count("id"), gmv=Sum("paid_amount"))
    return {
        "orders_today": Order.objects.filter(created_at__gte=start, created_at__lt=end).count(),
        "paid_today": sums["n"] or 0,
        "gmv_today": format_fen(sums["gmv"] or 0),
        "to_ship": Order.objects.filter(status=OrderStatus.PAID).count(),
        "after_sales_open": selectors.open_after_sales().count(),
        "anomalies": PaymentAnomaly.objects.filter(resolved_at__isnull=True).count(),
    }


site.register_widget(
    DashboardWidget(
        "orders_today",
        _("Orders today"),
        P.ORDERS_VIEW,
        "orders/widgets/today.html",
        _today,
        order=50,
    )
)


def _member_orders(request: HttpRequest, member: Any) -> dict[str, Any]:
    orders = Order.objects.filter(member=member).order_by("-created_at")
    sums = orders.aggregate(n=Count("id"), paid=Sum("paid_amount"), refunded=Sum("refunded_amount"))
    return {
        "orders": list(orders[:10]),
        "count": sums["n"] or 0,
        "spent": format_fen((sums["paid"] or 0) - (sums["refunded"] or 0)),
        "member_id": member.pk,
    }


site.register_section(
    DetailSection(
        "members.member",
        "orders",
        _("Orders"),
        P.ORDERS_VIEW,
        "orders/member_orders.html",
        _member_orders,
        order=10,
    )
)
