"""Console pages for the catalog: categories, brands, products with their SKU
matrix and images, stock (with the ledger), CSV/XLSX import and export."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import RangeNumericFilter, RelatedDropdownFilter
from unfold.contrib.import_export.forms import ExportForm, ImportForm
from unfold.decorators import action, display

from miniops.accounts.context import operator_of
from miniops.catalog import selectors, services
from miniops.catalog.forms import CategoryForm, ProductForm, SkuInlineForm, StockDialogForm
from miniops.catalog.models import (
    Brand,
    Category,
    Product,
    ProductImage,
    ProductStatus,
    Sku,
    StockLedger,
)
from miniops.catalog.resources import SkuRowResource
from miniops.core.console import (
    ConsoleModelAdmin,
    DashboardWidget,
    ReadOnlyConsoleAdmin,
    operator_has,
    redirect,
    site,
)
from miniops.core.errors import DomainError
from miniops.core.money import format_fen
from miniops.core.permissions import P

MANAGE: dict[str, str | None] = {
    "view": P.CATALOG_VIEW,
    "add": P.CATALOG_MANAGE,
    "change": P.CATALOG_MANAGE,
    "delete": P.CATALOG_MANAGE,
}


def _thumb(url: str | None, size: int = 40) -> str:
    if not url:
        return "—"
    return format_html(
        '<img src="{}" width="{}" height="{}" style="object-fit:cover;border-radius:4px" alt="">',
        url,
        size,
        size,
    )


@admin.register(Category, site=site)
class CategoryAdmin(ConsoleModelAdmin):
    permissions = MANAGE
    form = CategoryForm
    list_display = ["name", "parent", "level", "sort", "is_active", "product_count"]
    list_filter = ["level", "is_active"]
    search_fields = ["name"]
    ordering = ["level", "sort", "id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        return (
            super()
            .get_queryset(request)
            .select_related("parent")
            .annotate(n_products=Count("products"))
        )

    @display(description=_("Products"))
    def product_count(self, obj: Category) -> int:
        return getattr(obj, "n_products", 0)

    def save_model(self, request: HttpRequest, obj: Category, form: Any, change: bool) -> None:
        data = form.cleaned_data
        icon = data.get("icon") if "icon" in form.changed_data else None
        saved = services.save_category(
            actor=operator_of(request),
            category=obj if change else None,
            name=data["name"],
            parent=data.get("parent"),
            sort=data.get("sort") or 0,
            is_active=data.get("is_active", True),
            icon=(icon or b"") if "icon" in form.changed_data else None,
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Category) -> None:
        services.delete_category(category=obj, actor=operator_of(request))


@admin.register(Brand, site=site)
class BrandAdmin(ConsoleModelAdmin):
    permissions = MANAGE
    list_display = ["name", "logo_preview", "sort", "is_active"]
    search_fields = ["name"]
    fields = ["name", "logo", "sort", "is_active"]

    @display(description=_("Logo"))
    def logo_preview(self, obj: Brand) -> str:
        return _thumb(obj.logo.url if obj.logo else None)

    def save_model(self, request: HttpRequest, obj: Brand, form: Any, change: bool) -> None:
        data = dict(form.cleaned_data)
        logo = data.pop("logo", None)
        saved = services.save_brand(
            actor=operator_of(request),
            brand=obj if change else None,
            logo=(logo or b"") if "logo" in form.changed_data else None,
            **data,
        )
        obj.pk = saved.pk


class ProductImageInline(TabularInline):
    model = ProductImage
    fields = ["preview", "image", "sort"]
    readonly_fields = ["preview"]
    extra = 1
    max_num = 12

    @display(description=_("Preview"))
    def preview(self, obj: ProductImage) -> str:
        return _thumb(obj.image.url if obj.pk and obj.image else None, 64)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.CATALOG_VIEW)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.CATALOG_MANAGE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.CATALOG_MANAGE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.CATALOG_MANAGE)


class SkuInline(TabularInline):
    model = Sku
    form = SkuInlineForm
    fields = [
        "code",
        "specs_display",
        "price",
        "original_price",
        "stock_display",
        "weight_g",
        "is_active",
    ]
    readonly_fields = ["specs_display", "stock_display"]
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("SKUs (built from the specifications)")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # SKUs come from the spec matrix

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.CATALOG_VIEW)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.CATALOG_MANAGE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @display(description=_("Specification"))
    def specs_display(self, obj: Sku) -> str:
        return " / ".join(f"{k}: {v}" for k, v in obj.spec_values.items()) or "—"

    @display(description=_("Stock"))
    def stock_display(self, obj: Sku) -> str:
        if not obj.pk:
            return "—"
        url = reverse("console:catalog_sku_change", args=[obj.pk])
        return format_html('<a href="{}" class="underline">{}</a>', url, obj.stock)


@admin.register(Product, site=site)
class ProductAdmin(ConsoleModelAdmin):
    permissions = MANAGE
    form = ProductForm
    inlines = [SkuInline, ProductImageInline]
    list_display = [
        "cover_preview",
        "title",
        "category",
        "price_display",
        "stock_total",
        "status_badge",
        "sales_count",
        "updated_at",
    ]
    list_display_links = ["title"]
    list_filter = [
        "status",
        ("category", RelatedDropdownFilter),
        ("brand", RelatedDropdownFilter),
        ("min_price", RangeNumericFilter),
    ]
    list_filter_submit = True
    search_fields = ["title", "subtitle", "skus__code"]
    readonly_fields = ["status", "listed_at", "sales_count"]
    actions = ["list_selected", "delist_selected"]
    actions_detail = ["put_on_sale", "take_off_shelf"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "title",
                    "subtitle",
                    "category",
                    "brand",
                    "status",
                    "listed_at",
                    "sales_count",
                ]
            },
        ),
        (_("Specifications and SKUs"), {"fields": ["specs_text", "default_price"]}),
        (_("Description"), {"fields": ["description"]}),
        (_("Display and schedule"), {"fields": ["sort_weight", "publish_at", "unpublish_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return (
            super()
            .get_queryset(request)
            .select_related("category")
            .annotate(total_stock=Sum("skus__stock"))
        )

    @display(description=_("Image"))
    def cover_preview(self, obj: Product) -> str:
        return _thumb(selectors.media_url(obj.cover))

    @display(description=_("Price"), ordering="min_price")
    def price_display(self, obj: Product) -> str:
        return format_fen(obj.min_price)

    @display(description=_("Stock"), ordering="total_stock")
    def stock_total(self, obj: Product) -> int:
        return int(getattr(obj, "total_stock", 0) or 0)

    @display(
        description=_("Status"),
        label={
            ProductStatus.ON_SALE: "success",
            ProductStatus.DRAFT: "info",
            ProductStatus.OFF_SHELF: "warning",
        },
    )
    def status_badge(self, obj: Product) -> Any:
        return obj.status, obj.get_status_display()

    def save_model(self, request: HttpRequest, obj: Product, form: Any, change: bool) -> None:
        data = form.cleaned_data
        actor = operator_of(request)
        saved = services.save_product(
            actor=actor,
            product=obj if change else None,
            title=data["title"],
            subtitle=data.get("subtitle", ""),
            category=data["category"],
            brand=data.get("brand"),
            description=data.get("description", ""),
            sort_weight=data.get("sort_weight") or 0,
            publish_at=data.get("publish_at"),
            unpublish_at=data.get("unpublish_at"),
            specs=data.get("specs_text", []),
        )
        obj.pk = saved.pk
        obj._state.adding = False
        if not change or "specs_text" in form.changed_data:
            services.sync_skus(
                product=saved, actor=actor, default_price=data.get("default_price") or 0
            )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        actor = operator_of(request)
        product = form.instance
        # The admin reads these after saving (change messages); we save through services.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if formset.model is Sku:
            for sku_form in formset.forms:
                if not sku_form.instance.pk or not sku_form.has_changed():
                    continue
                data = sku_form.cleaned_data
                services.update_sku(
                    sku=sku_form.instance,
                    actor=actor,
                    price=data.get("price"),
                    original_price=data.get("original_price") or 0,
                    code=data.get("code"),
                    weight_g=data.get("weight_g"),
                    is_active=data.get("is_active"),
                )
            return
        if formset.model is ProductImage:
            for image_form in formset.forms:
                data = getattr(image_form, "cleaned_data", {})
                if not data:
                    continue
                if data.get("DELETE") and image_form.instance.pk:
                    image_form.instance.delete()
                elif not image_form.instance.pk and data.get("image"):
                    services.add_image(
                        product=product, upload=data["image"], actor=actor, sort=data.get("sort")
                    )
                elif image_form.instance.pk and image_form.has_changed():
                    if "image" in image_form.changed_data:
                        image_form.instance.delete()
                        services.add_image(
                            product=product,
                            upload=data["image"],
                            actor=actor,
                            sort=data.get("sort"),
                        )
                    else:
                        ProductImage.objects.filter(pk=image_form.instance.pk).update(
                            sort=data.get("sort") or 0
                        )
            services.refresh_cover(product)
            return
        super().save_formset(request, form, formset, change)

    # --- listing ------------------------------------------------------------------------
    def has_manage_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.CATALOG_MANAGE)

    def _bulk(self, request: HttpRequest, queryset: QuerySet[Product], to: str) -> None:
        done, failures = services.bulk_change_status(
            products=queryset, to=to, actor=operator_of(request)
        )
        if done:
            messages.success(request, _("%(n)d product(s) updated.") % {"n": done})
        for failure in failures[:10]:
            messages.error(request, failure)

    @admin.action(description=_("Put selected on sale"), permissions=["manage"])
    def list_selected(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        self._bulk(request, queryset, ProductStatus.ON_SALE)

    @admin.action(description=_("Take selected off shelf"), permissions=["manage"])
    def delist_selected(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        self._bulk(request, queryset, ProductStatus.OFF_SHELF)

    def _status(self, request: HttpRequest, object_id: Any, to: str) -> HttpResponse:
        product = get_object_or_404(Product, pk=object_id)
        self.run_service(
            request,
            lambda: services.change_status(product=product, to=to, actor=operator_of(request)),
            _("Status changed to “%s”.") % ProductStatus(to).label,
        )
        return redirect(request, reverse("console:catalog_product_change", args=[object_id]))

    @action(
        description=_("Put on sale"),
        url_path="on-sale",
        permissions=["manage"],
        icon="storefront",
        dialog={
            "title": _("Put this product on sale?"),
            "description": "",
            "form_class": None,
            "form_submit_text": _("Put on sale"),
        },
    )
    def put_on_sale(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        return self._status(request, object_id, ProductStatus.ON_SALE)

    @action(
        description=_("Take off shelf"),
        url_path="off-shelf",
        permissions=["manage"],
        icon="remove_shopping_cart",
        dialog={
            "title": _("Take this product off shelf?"),
            "description": "",
            "form_class": None,
            "form_submit_text": _("Take off shelf"),
        },
    )
    def take_off_shelf(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        return self._status(request, object_id, ProductStatus.OFF_SHELF)


@admin.register(Sku, site=site)
class SkuAdmin(ImportExportMixin, ConsoleModelAdmin):
    """Every SKU with its stock; stock changes through the "Adjust stock" action
    only. Import and export the catalog here, one row per SKU."""

    permissions = {"view": P.CATALOG_VIEW, "add": None, "change": P.CATALOG_MANAGE, "delete": None}
    resource_classes = [SkuRowResource]
    import_form_class = ImportForm
    export_form_class = ExportForm
    list_display = [
        "code",
        "product",
        "specs_display",
        "price_display",
        "stock",
        "stock_badge",
        "is_active",
    ]
    list_filter = [
        ("product__category", RelatedDropdownFilter),
        "is_active",
        ("stock", RangeNumericFilter),
    ]
    list_filter_submit = True
    search_fields = ["code", "product__title"]
    fields = [
        "product",
        "code",
        "specs_display",
        "price",
        "original_price",
        "stock",
        "weight_g",
        "is_active",
    ]
    readonly_fields = [
        "product",
        "code",
        "specs_display",
        "price",
        "original_price",
        "stock",
        "weight_g",
        "is_active",
    ]
    actions_detail = ["adjust_stock"]
    list_select_related = ["product"]

    def has_import_permission(self, request: HttpRequest) -> bool:
        return operator_has(request, P.CATALOG_IMPORT_EXPORT)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return operator_has(request, P.CATALOG_IMPORT_EXPORT)

    def get_import_resource_kwargs(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_import_resource_kwargs(request, **kwargs),
            "actor": operator_of(request),
        }

    def has_stock_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.CATALOG_MANAGE_STOCK)

    @display(description=_("Specification"))
    def specs_display(self, obj: Sku) -> str:
        return " / ".join(f"{k}: {v}" for k, v in obj.spec_values.items()) or "—"

    @display(description=_("Price"), ordering="price")
    def price_display(self, obj: Sku) -> str:
        return format_fen(obj.price)

    @display(
        description=_("Stock state"),
        label={"sold_out": "danger", "low": "warning", "in_stock": "success"},
    )
    def stock_badge(self, obj: Sku) -> Any:
        from miniops.core.selectors import get_system_settings

        state = selectors.stock_state(obj.stock, get_system_settings().low_stock_threshold)
        labels = {"sold_out": _("Sold out"), "low": _("Low"), "in_stock": _("In stock")}
        return state, labels[state]

    @action(
        description=_("Adjust stock"),
        url_path="adjust-stock",
        permissions=["stock"],
        icon="inventory",
        dialog={
            "title": _("Adjust stock"),
            "description": _("Every change is kept in the stock ledger with your name."),
            "form_class": StockDialogForm,
            "form_submit_text": _("Save"),
        },
    )
    def adjust_stock(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        sku = get_object_or_404(Sku, pk=object_id)
        data = form.cleaned_data
        try:
            balance = services.adjust_stock(
                sku=sku,
                delta=data["delta"],
                reason=data["reason"],
                note=data.get("note", ""),
                actor=operator_of(request),
            )
        except DomainError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, _("Stock is now %d.") % balance)
        return redirect(request, reverse("console:catalog_sku_change", args=[object_id]))


@admin.register(StockLedger, site=site)
class StockLedgerAdmin(ReadOnlyConsoleAdmin):
    permissions = {"view": P.CATALOG_VIEW, "add": None, "change": None, "delete": None}
    list_display = ["created_at", "sku", "delta", "balance", "reason", "reference", "actor", "note"]
    list_filter = ["reason"]
    search_fields = ["sku__code", "reference"]
    list_select_related = ["sku", "actor"]
    show_full_result_count = False

    def get_actions(self, request: HttpRequest) -> Any:
        return {}


def _low_stock(request: HttpRequest) -> dict[str, Any]:
    from miniops.core.selectors import get_system_settings

    return {
        "skus": selectors.low_stock_skus(),
        "threshold": get_system_settings().low_stock_threshold,
    }


site.register_widget(
    DashboardWidget(
        "low_stock",
        _("Low stock"),
        P.CATALOG_VIEW,
        "catalog/widgets/low_stock.html",
        _low_stock,
        order=200,
    )
)
