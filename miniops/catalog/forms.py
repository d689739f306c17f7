"""Console forms for the catalog; business rules stay in services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.forms import BaseDialogForm
from unfold.widgets import (
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from miniops.catalog.models import Category, Product, Sku, StockReason
from miniops.catalog.services import MAX_STOCK
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

    def clean_specs_text(self) -> list[dict[str, Any]]:
        return text_to_specs(self.cleaned_data.get("specs_text", ""))


class SkuInlineForm(forms.ModelForm):
    price = YuanField(label=_("Price (yuan)"))
    original_price = YuanField(label=_("Original price (yuan)"), required=False)

    class Meta:
        model = Sku
        fields = ["code", "price", "original_price", "weight_g", "is_active"]


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
