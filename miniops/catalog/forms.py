"""Console forms for the catalog; business rules stay in services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from unfold.forms import BaseDialogForm
from unfold.widgets import (
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from miniops.catalog.models import Category, Product, ProductStatus, Sku, StockReason
from miniops.catalog.selectors import sale_warnings, sale_warnings_for
from miniops.catalog.services import MAX_STOCK
from miniops.core.console import BulkForm
from miniops.core.forms import YuanField, specs_to_text, text_to_specs


class CategoryForm(forms.ModelForm):
    class Meta:
        model = Category
        fields = ["name", "parent", "sort", "icon", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "parent" in self.fields:
            self.fields["parent"].queryset = Category.objects.filter(level__lt=3)  # type: ignore[attr-defined]


class ProductForm(forms.ModelForm):
    specs_text = forms.CharField(
        label=_("Specifications"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "One per line, e.g. “颜色: 红, 蓝” and “尺码: S, M, L”. Saving builds the SKU matrix."
        ),
    )
    default_price = YuanField(
        label=_("Price for new SKUs (yuan)"),
        required=False,
        help_text=_("Used for combinations added now."),
    )
    on_sale_anyway = forms.BooleanField(
        label=_("Put on sale even without an image or with SKUs of 0 g"),
        required=False,
        help_text=_("Only for “Save and put on sale”; otherwise you are asked first."),
    )

    class Meta:
        model = Product
        fields = [
            "title",
            "subtitle",
            "category",
            "brand",
            "description",
            "sort_weight",
            "publish_at",
            "unpublish_at",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance and self.instance.pk:
            self.fields["specs_text"].initial = specs_to_text(self.instance.specs)
        category: Any = self.fields.get("category")
        if category is not None:
            # The chosen category reads as its full path, “服装 / 男装 / T恤”, as the
            # search-as-you-type answers do (the picker loads only what matches).
            category.label_from_instance = lambda node: node.path

    def clean_specs_text(self) -> list[dict[str, Any]]:
        return text_to_specs(self.cleaned_data.get("specs_text", ""))


class SkuInlineForm(forms.ModelForm):
    price = YuanField(label=_("Price (yuan)"))
    original_price = YuanField(label=_("Original price (yuan)"), required=False)

    class Meta:
        model = Sku
        fields = ["code", "price", "original_price", "weight_g", "is_active"]


class NewSkuForm(forms.ModelForm):
    """One SKU typed into a new product's form: its specification values, price,
    weight and opening stock (``services.add_skus`` creates them)."""

    spec_text = forms.CharField(
        label=_("Specification"),
        required=False,
        max_length=200,
        help_text=_("e.g. “颜色: 红” or “颜色: 红; 尺码: M”"),
        widget=UnfoldAdminTextInputWidget,
    )
    code = forms.CharField(
        label=_("SKU code"),
        required=False,
        max_length=64,
        help_text=_("Empty: numbered for you."),
        widget=UnfoldAdminTextInputWidget,
    )
    price = YuanField(label=_("Price (yuan)"))
    opening_stock = forms.IntegerField(
        label=_("Opening stock"),
        min_value=0,
        max_value=MAX_STOCK,
        required=False,
        widget=UnfoldAdminIntegerFieldWidget,
    )

    class Meta:
        model = Sku
        fields = ["code", "price", "weight_g"]

    def clean_spec_text(self) -> dict[str, str]:
        values: dict[str, str] = {}
        text = self.cleaned_data.get("spec_text") or ""
        for part in text.replace("；", ";").split(";"):
            if not part.strip():
                continue
            name, sep, value = part.replace("：", ":").partition(":")
            if not sep or not name.strip() or not value.strip():
                raise forms.ValidationError(_("Write it as “name: value”, several joined by “;”."))
            values[name.strip()] = value.strip()
        return values

    def row(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "spec_values": data.get("spec_text") or {},
            "code": data.get("code") or "",
            "price": data["price"],
            "weight_g": data.get("weight_g") or 0,
            "stock": data.get("opening_stock") or 0,
        }


class PutOnSaleDialogForm(BaseDialogForm):
    """The confirmation of “Put on sale”: what is missing (no image, SKUs of 0 g)
    is listed, and must be acknowledged with a tick."""

    def __init__(self, *args: Any, object_id: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, object_id=object_id, **kwargs)
        product = Product.objects.filter(pk=object_id).first() if object_id else None
        self.warnings = sale_warnings(product) if product else []
        if self.warnings:
            self.fields["anyway"] = forms.BooleanField(
                label=_("Put it on sale anyway"),
                help_text=" ".join(self.warnings),
                required=True,
                widget=UnfoldBooleanWidget,
            )


class PutSelectedOnSaleForm(BulkForm):
    """The confirmation of “Put selected on sale”: the selected products with no
    image or with SKUs of 0 g are listed, and must be acknowledged with a tick."""

    def __init__(self, *args: Any, queryset: QuerySet[Product], **kwargs: Any) -> None:
        super().__init__(*args, queryset=queryset, **kwargs)
        waiting = [p for p in queryset if p.status != ProductStatus.ON_SALE]
        warned = sale_warnings_for(waiting)
        self.warnings = [
            f"{product}: {' '.join(warned[product.pk])}"
            for product in waiting
            if product.pk in warned
        ]
        if self.warnings:
            self.fields["anyway"] = forms.BooleanField(
                label=_("Put them on sale anyway"),
                help_text=_("%(n)d of the selected products lack an image or have SKUs of 0 g.")
                % {"n": len(self.warnings)},
                required=True,
                widget=UnfoldBooleanWidget,
            )


class StockDialogForm(BaseDialogForm):
    delta = forms.IntegerField(
        label=_("Change (+ adds, − removes)"),
        min_value=-MAX_STOCK,
        max_value=MAX_STOCK,
        widget=UnfoldAdminIntegerFieldWidget,
    )
    reason = forms.ChoiceField(
        label=_("Reason"),
        choices=[
            (StockReason.ADJUSTMENT, StockReason.ADJUSTMENT.label),
            (StockReason.CORRECTION, StockReason.CORRECTION.label),
            (StockReason.RETURN, StockReason.RETURN.label),
        ],
        widget=UnfoldAdminSelectWidget,
    )
    note = forms.CharField(
        label=_("Note"), max_length=255, required=False, widget=UnfoldAdminTextInputWidget
    )

    def clean_delta(self) -> int:
        delta = self.cleaned_data["delta"]
        if delta == 0:
            raise forms.ValidationError(_("Enter a non-zero change."))
        return int(delta)
