"""Console pages: operators, roles, the permission matrix, API tokens, the audit log."""

from __future__ import annotations

from functools import partial
from typing import Any

from auditlog.models import LogEntry
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import RangeDateTimeFilter, RelatedDropdownFilter
from unfold.decorators import action, display

from miniops.accounts import selectors, services
from miniops.accounts.context import operator_of
from miniops.accounts.forms import (
    ApiTokenCreateForm,
    ConfirmDialogForm,
    OperatorChangeForm,
    OperatorCreateForm,
    ReasonDialogForm,
    RoleForm,
    SetPasswordDialogForm,
)
from miniops.accounts.models import ApiToken, Operator, OperatorSession, Role
from miniops.core.console import (
    ConsoleModelAdmin,
    ReadOnlyConsoleAdmin,
    mark_invalid_post,
    operator_has,
    redirect,
    site,
)
from miniops.core.errors import DomainError
from miniops.core.permissions import P


class SessionInline(TabularInline):
    model = OperatorSession
    fields = ["created_at", "last_seen_at", "ip", "user_agent", "ended_at", "end_reason"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = _("Recent console sessions")

    def get_queryset(self, request: HttpRequest) -> QuerySet[OperatorSession]:
        return super().get_queryset(request).order_by("-created_at")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ACCOUNTS_VIEW_OPERATORS)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Operator, site=site)
class OperatorAdmin(ConsoleModelAdmin):
    permissions = {
        "view": P.ACCOUNTS_VIEW_OPERATORS,
        "add": P.ACCOUNTS_MANAGE_OPERATORS,
        "change": P.ACCOUNTS_MANAGE_OPERATORS,
        "delete": None,  # operators are disabled, never deleted: the audit trail keeps them
    }
    list_display = [
        "username",
        "display_name",
        "role_list",
        "active_badge",
        "two_factor",
        "last_login",
    ]
    list_filter = ["is_active", ("roles", RelatedDropdownFilter)]
    search_fields = ["username", "display_name", "email"]
    readonly_fields = ["username", "is_active", "last_login", "date_joined", "disabled_at"]
    inlines = [SessionInline]
    actions = ["disable_selected", "enable_selected"]
    actions_detail = [
        "disable_one",
        "enable_one",
        "reset_2fa_one",
        "end_sessions_one",
        "set_password_one",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Operator]:
        return super().get_queryset(request).prefetch_related("roles")

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        kwargs["form"] = OperatorChangeForm if obj is not None else OperatorCreateForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [
                (None, {"fields": ["username", "display_name", "email", "language"]}),
                (_("Roles"), {"fields": ["roles"]}),
                (_("Password"), {"fields": ["password1", "password2"]}),
            ]
        return [
            (None, {"fields": ["username", "display_name", "email", "language"]}),
            (_("Roles"), {"fields": ["roles"]}),
            (_("Status"), {"fields": ["is_active", "disabled_at", "last_login", "date_joined"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else []

    @display(description=_("Roles"))
    def role_list(self, obj: Operator) -> str:
        return ", ".join(role.display_name for role in obj.roles.all())

    @display(description=_("Status"), label={True: "success", False: "danger"})
    def active_badge(self, obj: Operator) -> Any:
        return obj.is_active, _("Active") if obj.is_active else _("Disabled")

    @display(description=_("Two-factor"), boolean=True)
    def two_factor(self, obj: Operator) -> bool:
        return obj.has_totp_device

    def save_model(self, request: HttpRequest, obj: Operator, form: Any, change: bool) -> None:
        actor = operator_of(request)
        if not change:
            created = services.create_operator(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                roles=form.cleaned_data.get("roles", []),
                display_name=form.cleaned_data.get("display_name", ""),
                email=form.cleaned_data.get("email", ""),
                language=form.cleaned_data.get("language", ""),
                actor=actor,
            )
            obj.pk = created.pk
            obj._state.adding = False
            return
        obj.save(update_fields=["display_name", "email", "language"])
        if "roles" in form.changed_data:
            services.set_operator_roles(
                operator=obj,
                roles=form.cleaned_data["roles"],
                actor=actor,
            )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Roles are set by the services above (with their privilege checks).
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    # --- actions -------------------------------------------------------------------------
    def has_manage_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ACCOUNTS_MANAGE_OPERATORS)

    @admin.action(description=_("Disable selected operators"), permissions=["manage"])
    def disable_selected(self, request: HttpRequest, queryset: QuerySet[Operator]) -> None:
        actor = operator_of(request)
        for operator in queryset:
            self.run_service(
                request,
                partial(services.disable_operator, operator=operator, actor=actor),
                _("Disabled %(name)s; their sessions have ended.") % {"name": operator},
            )

    @admin.action(description=_("Enable selected operators"), permissions=["manage"])
    def enable_selected(self, request: HttpRequest, queryset: QuerySet[Operator]) -> None:
        actor = operator_of(request)
        for operator in queryset:
            self.run_service(
                request,
                partial(services.enable_operator, operator=operator, actor=actor),
                _("Enabled %(name)s.") % {"name": operator},
            )

    def _detail(self, request: HttpRequest, object_id: Any) -> Operator:
        return get_object_or_404(Operator.objects.prefetch_related("roles"), pk=object_id)

    def _back(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        return redirect(request, reverse("console:accounts_operator_change", args=[object_id]))

    @action(
        description=_("Disable"),
        url_path="disable",
        permissions=["manage"],
        icon="block",
        dialog={
            "title": _("Disable this operator?"),
            "description": _("They are signed out everywhere and their API tokens stop working."),
            "form_class": ReasonDialogForm,
            "form_submit_text": _("Disable"),
        },
    )
    def disable_one(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        operator = self._detail(request, object_id)
        self.run_service(
            request,
            lambda: services.disable_operator(
                operator=operator,
                actor=operator_of(request),
                reason=form.cleaned_data.get("reason", ""),
            ),
            _("Disabled %(name)s; their sessions have ended.") % {"name": operator},
        )
        return self._back(request, object_id)

    @action(
        description=_("Enable"),
        url_path="enable",
        permissions=["manage"],
        icon="check_circle",
        dialog={
            "title": _("Enable this operator?"),
            "description": "",
            "form_class": ConfirmDialogForm,
            "form_submit_text": _("Enable"),
        },
    )
    def enable_one(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        operator = self._detail(request, object_id)
        self.run_service(
            request,
            lambda: services.enable_operator(operator=operator, actor=operator_of(request)),
            _("Enabled %(name)s.") % {"name": operator},
        )
        return self._back(request, object_id)

    @action(
        description=_("Reset two-factor"),
        url_path="reset-2fa",
        permissions=["manage"],
        icon="phonelink_lock",
        dialog={
            "title": _("Reset two-factor authentication?"),
            "description": _(
                "Their authenticator is removed; they enrol a new one at next sign-in."
            ),
            "form_class": ConfirmDialogForm,
            "form_submit_text": _("Reset"),
        },
    )
    def reset_2fa_one(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        operator = self._detail(request, object_id)
        self.run_service(
            request,
            lambda: services.reset_two_factor(operator=operator, actor=operator_of(request)),
            _("Two-factor reset for %(name)s.") % {"name": operator},
        )
        return self._back(request, object_id)

    @action(
        description=_("End sessions"),
        url_path="end-sessions",
        permissions=["manage"],
        icon="logout",
        dialog={
            "title": _("Sign this operator out everywhere?"),
            "description": "",
            "form_class": ConfirmDialogForm,
            "form_submit_text": _("Sign out"),
        },
    )
    def end_sessions_one(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        operator = self._detail(request, object_id)

        def call() -> None:
            services._check_manageable(operator_of(request), operator)
            services.end_all_sessions(operator, reason="ended_by_admin")

        self.run_service(request, call, _("Sessions ended for %(name)s.") % {"name": operator})
        return self._back(request, object_id)

    @action(
        description=_("Set password"),
        url_path="set-password",
        permissions=["manage"],
        icon="password",
        dialog={
            "title": _("Set a new password"),
            "description": _("Their other sessions end."),
            "form_class": SetPasswordDialogForm,
            "form_submit_text": _("Save"),
        },
    )
    def set_password_one(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        operator = self._detail(request, object_id)
        self.run_service(
            request,
            lambda: services.change_password(
                operator=operator,
                password=form.cleaned_data["password1"],
                actor=operator_of(request),
            ),
            _("Password changed for %(name)s.") % {"name": operator},
        )
        return self._back(request, object_id)


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


@admin.register(ApiToken, site=site)
class ApiTokenAdmin(ConsoleModelAdmin):
    """Each operator sees and creates their own tokens; operator managers see all
    and may revoke any. Tokens are never edited: revoke and create another."""

    permissions = {
        "view": P.API_TOKENS_USE,
        "add": P.API_TOKENS_USE,
        "change": None,
        "delete": None,
    }
    list_display = [
        "name",
        "operator",
        "prefix_display",
        "status_badge",
        "expires_at",
        "last_used_at",
    ]
    list_filter = ["operator"]
    search_fields = ["name", "prefix"]
    actions_detail = ["revoke_one"]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or operator_has(
            request, P.ACCOUNTS_MANAGE_OPERATORS
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        queryset = super().get_queryset(request).select_related("operator")
        if operator_has(request, P.ACCOUNTS_MANAGE_OPERATORS):
            return queryset
        return queryset.filter(operator=operator_of(request))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [
            "name",
            "operator",
            "prefix",
            "permissions",
            "created_at",
            "expires_at",
            "revoked_at",
            "revoked_by",
            "last_used_at",
            "last_used_ip",
        ]

    @display(description=_("Token"))
    def prefix_display(self, obj: ApiToken) -> str:
        return f"mo_{obj.prefix}_…"

    @display(
        description=_("Status"),
        label={"active": "success", "expired": "warning", "revoked": "danger"},
    )
    def status_badge(self, obj: ApiToken) -> str:
        return obj.status

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        operator = operator_of(request)
        form = ApiTokenCreateForm(request.POST or None, operator=operator)
        if request.method == "POST" and form.is_valid():
            try:
                token, raw = services.create_api_token(
                    operator=operator,
                    name=form.cleaned_data["name"],
                    permissions=form.cleaned_data["permissions"],
                    expires_in_days=form.cleaned_data["expires_in_days"],
                    actor=operator,
                )
            except DomainError as exc:
                form.add_error(None, str(exc.message))
            else:
                context = site.page_context(request, title=_("Token created"), token=token, raw=raw)
                response = TemplateResponse(request, "accounts/token_created.html", context)
                response["Cache-Control"] = "no-store"
                return response
        context = site.page_context(
            request, title=_("New API token"), form=form, opts=self.model._meta
        )
        return mark_invalid_post(
            request, TemplateResponse(request, "accounts/token_form.html", context)
        )

    def has_revoke_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_view_permission(request)

    @action(
        description=_("Revoke"),
        url_path="revoke",
        permissions=["revoke"],
        icon="key_off",
        dialog={
            "title": _("Revoke this token?"),
            "description": _("Calls using it are refused at once."),
            "form_class": ConfirmDialogForm,
            "form_submit_text": _("Revoke"),
        },
    )
    def revoke_one(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        token = get_object_or_404(self.get_queryset(request), pk=object_id)
        self.run_service(
            request,
            lambda: services.revoke_api_token(token=token, actor=operator_of(request)),
            _("Token revoked."),
        )
        return redirect(request, reverse("console:accounts_apitoken_change", args=[object_id]))


@admin.register(LogEntry, site=site)
class AuditLogAdmin(ReadOnlyConsoleAdmin):
    permissions = {"view": P.AUDIT_VIEW, "add": None, "change": None, "delete": None}
    list_display = [
        "timestamp",
        "actor",
        "action_badge",
        "content_type",
        "object_repr",
        "remote_addr",
    ]
    list_filter = [
        ("timestamp", RangeDateTimeFilter),
        "action",
        ("actor", RelatedDropdownFilter),
        ("content_type", RelatedDropdownFilter),
    ]
    list_filter_submit = True
    search_fields = ["object_repr", "object_pk", "actor__username", "remote_addr"]
    list_select_related = ["actor", "content_type"]
    show_full_result_count = False
    date_hierarchy = None
    fields = [
        "timestamp",
        "actor",
        "actor_email",
        "action",
        "content_type",
        "object_pk",
        "object_repr",
        "changes_table",
        "remote_addr",
        "cid",
        "additional_data",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields

    @display(description=_("Action"), label={0: "success", 1: "info", 2: "danger", 3: "warning"})
    def action_badge(self, obj: LogEntry) -> Any:
        return obj.action, obj.get_action_display()

    @display(description=_("Changes"))
    def changes_table(self, obj: LogEntry) -> str:
        changes = obj.changes if isinstance(obj.changes, dict) else {}
        rows = [
            (field, *values)
            if isinstance(values, list | tuple) and len(values) == 2
            else (field, "", values)
            for field, values in changes.items()
        ]
        return render_to_string("accounts/audit_changes.html", {"rows": rows})

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        if request.method == "POST":  # no bulk actions on audit rows
            messages.error(request, _("Audit entries cannot be changed."))
            return HttpResponseRedirect(request.path)
        return super().changelist_view(request, extra_context)

    def get_actions(self, request: HttpRequest) -> Any:
        return {}
