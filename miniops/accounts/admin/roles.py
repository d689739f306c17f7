"""Custom roles and the permission matrix page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from miniops.accounts import selectors, services
from miniops.accounts.context import operator_of
from miniops.accounts.forms import (
    RoleForm,
)
from miniops.accounts.models import Role
from miniops.core.console import (
    ConsoleModelAdmin,
    site,
)
from miniops.core.permissions import P


@admin.register(Role, site=site)
class RoleAdmin(ConsoleModelAdmin):
    permissions = {
        "view": P.ACCOUNTS_VIEW_OPERATORS,
        "add": P.ACCOUNTS_MANAGE_ROLES,
        "change": P.ACCOUNTS_MANAGE_ROLES,
        "delete": P.ACCOUNTS_MANAGE_ROLES,
    }
    form = RoleForm
    list_display = [
        "role_name",
        "code",
        "is_system",
        "requires_2fa",
        "operator_count",
        "permission_count",
    ]
    list_filter = ["is_system", "requires_2fa"]
    search_fields = ["code", "name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Role]:
        return super().get_queryset(request).annotate(n_operators=Count("operators"))

    @display(description=_("Name"))
    def role_name(self, obj: Role) -> str:
        return obj.display_name

    @display(description=_("Operators"))
    def operator_count(self, obj: Role) -> int:
        return getattr(obj, "n_operators", 0)

    @display(description=_("Permissions"))
    def permission_count(self, obj: Role) -> int:
        return len(obj.effective_permissions())

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        if obj.is_system:
            fixed = ["code", "name", "description", "effective"]
            return [*fixed, "requires_2fa"] if obj.code == "super_admin" else fixed
        return ["code"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.is_system:
            return ["code", "name", "description", "requires_2fa", "effective"]
        return ["code", "name", "description", "requires_2fa", "permissions"]

    @display(description=_("Permissions"))
    def effective(self, obj: Role) -> str:
        return render_to_string(
            "accounts/role_permissions.html",
            {"permissions": selectors.labelled(obj.effective_permissions())},
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_system:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Role, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            created = services.create_role(
                code=data["code"],
                name=data["name"],
                description=data.get("description", ""),
                requires_2fa=data.get("requires_2fa", False),
                permissions=data.get("permissions", []),
                actor=operator_of(request),
            )
            obj.pk = created.pk
            obj._state.adding = False
            return
        current = Role.objects.get(pk=obj.pk)
        changes = {name: data[name] for name in form.changed_data if name in data}
        services.update_role(role=current, actor=operator_of(request), **changes)

    def delete_model(self, request: HttpRequest, obj: Role) -> None:
        services.delete_role(role=obj, actor=operator_of(request))


@site.register_page(
    name="accounts_permission_matrix",
    route="accounts/permission-matrix/",
    permission=P.ACCOUNTS_VIEW_OPERATORS,
    title=_("Permission matrix"),
    icon="grid_on",
)
def permission_matrix(request: HttpRequest) -> HttpResponse:
    roles, rows = selectors.permission_matrix()
    context = site.page_context(request, title=_("Permission matrix"), roles=roles, rows=rows)
    return TemplateResponse(request, "accounts/permission_matrix.html", context)
