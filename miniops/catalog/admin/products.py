"""Products with their SKUs and images; listing and delisting."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import RangeNumericFilter, RelatedDropdownFilter
from unfold.decorators import display

from miniops.accounts.context import operator_of
from miniops.catalog import selectors, services
from miniops.catalog.admin.common import MANAGE, _thumb
from miniops.catalog.forms import (
    NewSkuForm,
    ProductForm,
    PutOnSaleDialogForm,
    PutSelectedOnSaleForm,
    SkuInlineForm,
)
from miniops.catalog.models import (
    Product,
    ProductImage,
    ProductStatus,
    Sku,
)
from miniops.core.console import (
    ConsoleModelAdmin,
    bulk_action,
    dialog_action,
    operator_has,
    redirect,
    site,
)
from miniops.core.errors import Conflict, InvalidInput
from miniops.core.money import format_fen
from miniops.core.permissions import P


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


class NewSkuInline(TabularInline):
    """A new product's SKUs, typed with their price, weight and opening stock."""

    model = Sku
    form = NewSkuForm
    fields = ["spec_text", "code", "price", "weight_g", "opening_stock"]
    extra = 2
    max_num = 100
    can_delete = False
    verbose_name_plural = _("SKUs, with their opening stock")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.CATALOG_MANAGE)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.CATALOG_MANAGE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.CATALOG_MANAGE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


ON_SALE_BUTTON = "_onsale"


@admin.register(Product, site=site)
class ProductAdmin(ConsoleModelAdmin):
    hide_refused_delete = True
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
    # Type any level of the path to find a category (CategoryAdmin.search_fields).
    autocomplete_fields = ["category"]
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

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[Any]:
        # A new product takes its SKUs typed in; a saved one edits those it has.
        return [SkuInline if obj else NewSkuInline, ProductImageInline]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            fieldsets = [*fieldsets, (_("Going on sale"), {"fields": ["on_sale_anyway"]})]
        return fieldsets

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        extra_context = extra_context or {}
        if object_id is None and operator_has(request, P.CATALOG_MANAGE):
            # “Save and put on sale”: one press for a product that is ready.
            extra_context["actions_submit_line"] = [
                {
                    "action_name": ON_SALE_BUTTON,
                    "description": _("Save and put on sale"),
                    "icon": "storefront",
                    "attrs": {"name": ON_SALE_BUTTON},
                }
            ]
        return super().changeform_view(request, object_id, form_url, extra_context)

    def response_add(
        self, request: HttpRequest, obj: Product, post_url_continue: Any = None
    ) -> Any:
        if ON_SALE_BUTTON in request.POST:
            return redirect(request, reverse("console:catalog_product_change", args=[obj.pk]))
        return super().response_add(request, obj, post_url_continue)

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
        if change and "specs_text" in form.changed_data:
            services.sync_skus(
                product=saved, actor=actor, default_price=data.get("default_price") or 0
            )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        product = Product.objects.get(pk=form.instance.pk)  # as the services left it
        actor = operator_of(request)
        if not change and not product.skus.exists():
            # No SKU typed: the specifications' matrix, at the price given.
            services.sync_skus(
                product=product,
                actor=actor,
                default_price=form.cleaned_data.get("default_price") or 0,
            )
        if ON_SALE_BUTTON not in request.POST:
            return
        warnings = selectors.sale_warnings(product)
        if warnings and not form.cleaned_data.get("on_sale_anyway"):
            # Ask first: the operator ticks “anyway” and presses the button again.
            raise Conflict(
                _("Not put on sale yet: %s") % " ".join(warnings),
                fields={"on_sale_anyway": " ".join(warnings)},
            )
        services.change_status(product=product, to=ProductStatus.ON_SALE, actor=actor)
        messages.success(request, _("“%s” is on sale.") % product.title)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        actor = operator_of(request)
        product = form.instance
        # The admin reads these after saving (change messages); we save through services.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if formset.model is Sku and issubclass(formset.form, NewSkuForm):
            rows = [
                sku_form.row()
                for sku_form in formset.forms
                if sku_form.has_changed() and getattr(sku_form, "cleaned_data", None)
            ]
            if rows and form.cleaned_data.get("specs_text"):
                raise InvalidInput(
                    fields={
                        "specs_text": _(
                            "Either write the specifications here or type the SKUs below."
                        )
                    }
                )
            services.add_skus(product=product, rows=rows, actor=actor)
            return
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
            self._save_images(product, formset, actor)
            return
        super().save_formset(request, form, formset, change)

    def _save_images(self, product: Product, formset: Any, actor: Any) -> None:
        """The gallery inline, through the image services (each change audited):
        removals first (room for new images), then replaced files, additions, and
        one new order for the sort numbers changed."""
        rows = [
            (image_form, image_form.cleaned_data)
            for image_form in formset.forms
            if getattr(image_form, "cleaned_data", None)
        ]
        for image_form, data in rows:
            if data.get("DELETE") and image_form.instance.pk:
                services.remove_image(image=image_form.instance, actor=actor)
        sorts: dict[int, int] = {}
        for image_form, data in rows:
            image = image_form.instance
            if data.get("DELETE"):
                continue
            if not image.pk:
                if data.get("image"):
                    services.add_image(
                        product=product, upload=data["image"], actor=actor, sort=data.get("sort")
                    )
                continue
            if "image" in image_form.changed_data and data.get("image"):
                services.replace_image(image=image, upload=data["image"], actor=actor)
            if "sort" in image_form.changed_data:
                sorts[image.pk] = data.get("sort") or 0
        if sorts:
            services.reorder_images(product=product, sorts=sorts, actor=actor)

    # --- listing ------------------------------------------------------------------------
    def _bulk(
        self, request: HttpRequest, queryset: QuerySet[Product], to: str, anyway: bool = False
    ) -> None:
        done, failures = services.bulk_change_status(
            products=queryset, to=to, actor=operator_of(request), anyway=anyway
        )
        if done:
            messages.success(request, _("%(n)d product(s) updated.") % {"n": done})
        for failure in failures[:10]:
            messages.error(request, failure)

    @bulk_action(
        permission=P.CATALOG_MANAGE,
        description=_("Put selected on sale"),
        text=_("Members can buy them at once."),
        form_class=PutSelectedOnSaleForm,
    )
    def list_selected(
        self, request: HttpRequest, queryset: QuerySet[Product], form: PutSelectedOnSaleForm
    ) -> None:
        # Asked first (the form lists what lacks an image or weighs 0 g and wants
        # the tick); the service refuses those again unless “anyway” was ticked.
        anyway = bool(form.cleaned_data.get("anyway"))
        self._bulk(request, queryset, ProductStatus.ON_SALE, anyway=anyway)

    @bulk_action(
        permission=P.CATALOG_MANAGE,
        description=_("Take selected off shelf"),
        text=_("Members can no longer buy them; orders already placed are not touched."),
    )
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

    @dialog_action(
        permission=P.CATALOG_MANAGE,
        description=_("Put on sale"),
        title=_("Put this product on sale?"),
        url_path="on-sale",
        icon="storefront",
        form_class=PutOnSaleDialogForm,
        shown_if=lambda product: product.status != ProductStatus.ON_SALE,
    )
    def put_on_sale(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        return self._status(request, object_id, ProductStatus.ON_SALE)

    @dialog_action(
        permission=P.CATALOG_MANAGE,
        description=_("Take off shelf"),
        title=_("Take this product off shelf?"),
        url_path="off-shelf",
        icon="remove_shopping_cart",
        shown_if=lambda product: product.status == ProductStatus.ON_SALE,
    )
    def take_off_shelf(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        return self._status(request, object_id, ProductStatus.OFF_SHELF)
