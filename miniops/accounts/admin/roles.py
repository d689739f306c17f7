"""Custom roles and the permission matrix page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
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
    operator_has,
    redirect,
    site,
)
from miniops.core.permissions import P

ADD_OPERATOR_BUTTON = "_addoperator"


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
        return ["code", "name", "description", "requires_2fa", "permission_groups", "permissions"]

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
        changed = set(form.changed_data)
        if "permission_groups" in changed:
            changed = (changed - {"permission_groups"}) | {"permissions"}
        changes = {name: data[name] for name in changed if name in data}
        services.update_role(role=current, actor=operator_of(request), **changes)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        extra_context = extra_context or {}
        if operator_has(request, P.ACCOUNTS_MANAGE_ROLES) and operator_has(
            request, P.ACCOUNTS_MANAGE_OPERATORS
        ):
            # “Save and add an operator with this role”: the operator form opens with
            # the role ticked, so a new role and its first holder take one sitting.
            extra_context["actions_submit_line"] = [
                {
                    "action_name": ADD_OPERATOR_BUTTON,
                    "description": _("Save and add an operator with this role"),
                    "icon": "person_add",
                    "attrs": {"name": ADD_OPERATOR_BUTTON},
                }
            ]
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _add_operator(self, request: HttpRequest, obj: Role) -> HttpResponse:
        messages.success(
            request,
            _("Role “%(name)s” saved. Now add its operator: the role is ticked.")
            % {"name": obj.display_name},
        )
        url = reverse("console:accounts_operator_add")
        return redirect(request, f"{url}?{urlencode({'roles': obj.pk})}")

    def response_add(self, request: HttpRequest, obj: Role, post_url_continue: Any = None) -> Any:
        if ADD_OPERATOR_BUTTON in request.POST:
            return self._add_operator(request, obj)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Role) -> Any:
        if ADD_OPERATOR_BUTTON in request.POST:
            return self._add_operator(request, obj)
        return super().response_change(request, obj)

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
