"""Categories and brands."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from miniops.accounts.context import operator_of
from miniops.catalog import services
from miniops.catalog.admin.common import MANAGE, _thumb
from miniops.catalog.forms import CategoryForm
from miniops.catalog.models import (
    Brand,
    Category,
)
from miniops.core.console import (
    ConsoleModelAdmin,
    site,
)


@admin.register(Category, site=site)
class CategoryAdmin(ConsoleModelAdmin):
    hide_refused_delete = True
    permissions = MANAGE
    form = CategoryForm
    list_display = ["name", "parent", "level", "sort", "is_active", "product_count"]
    list_filter = ["level", "is_active"]
    # Any level of the path: “女装” finds 女装 and every category under it, and
    # “女装 连衣裙” the one below it (each word must match one level).
    search_fields = ["name", "parent__name", "parent__parent__name"]
    ordering = ["level", "sort", "id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        return (
            super()
            .get_queryset(request)
            .select_related("parent__parent")
            .annotate(n_products=Count("products"))
        )

    def autocomplete_label(self, obj: Category) -> str:
        """Search-as-you-type pickers (a product's category, a coupon's) show the
        full path, so “T恤” under 男装 and under 女装 read apart."""
        return obj.path

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
