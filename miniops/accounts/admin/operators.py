"""Operators: create, change, disable, reset password and second factor, sessions."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import RelatedDropdownFilter
from unfold.decorators import display

from miniops.accounts import services
from miniops.accounts.context import operator_of
from miniops.accounts.forms import (
    OperatorChangeForm,
    OperatorCreateForm,
    ReasonDialogForm,
    SetPasswordDialogForm,
)
from miniops.accounts.models import Operator, OperatorSession
from miniops.core.console import (
    ConsoleModelAdmin,
    bulk_action,
    dialog_action,
    operator_has,
    redirect,
    site,
)
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
    @bulk_action(
        permission=P.ACCOUNTS_MANAGE_OPERATORS,
        description=_("Disable selected operators"),
        text=_("They are signed out everywhere and their API tokens stop working."),
        submit=_("Disable"),
    )
    def disable_selected(self, request: HttpRequest, queryset: QuerySet[Operator]) -> None:
        actor = operator_of(request)
        for operator in queryset:
            self.run_service(
                request,
                partial(services.disable_operator, operator=operator, actor=actor),
                _("Disabled %(name)s; their sessions have ended.") % {"name": operator},
            )

    @bulk_action(
        permission=P.ACCOUNTS_MANAGE_OPERATORS,
        description=_("Enable selected operators"),
        submit=_("Enable"),
    )
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

    @dialog_action(
        permission=P.ACCOUNTS_MANAGE_OPERATORS,
        description=_("Disable"),
        title=_("Disable this operator?"),
        text=_("They are signed out everywhere and their API tokens stop working."),
        url_path="disable",
        form_class=ReasonDialogForm,
        icon="block",
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

    @dialog_action(
        permission=P.ACCOUNTS_MANAGE_OPERATORS,
        description=_("Enable"),
        title=_("Enable this operator?"),
        url_path="enable",
        icon="check_circle",
    )
    def enable_one(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        operator = self._detail(request, object_id)
        self.run_service(
            request,
            lambda: services.enable_operator(operator=operator, actor=operator_of(request)),
            _("Enabled %(name)s.") % {"name": operator},
        )
        return self._back(request, object_id)

    @dialog_action(
        permission=P.ACCOUNTS_MANAGE_OPERATORS,
        description=_("Reset two-factor"),
        title=_("Reset two-factor authentication?"),
        text=_("Their authenticator is removed; they enrol a new one at next sign-in."),
        url_path="reset-2fa",
        submit=_("Reset"),
        icon="phonelink_lock",
    )
    def reset_2fa_one(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        operator = self._detail(request, object_id)
        self.run_service(
            request,
            lambda: services.reset_two_factor(operator=operator, actor=operator_of(request)),
            _("Two-factor reset for %(name)s.") % {"name": operator},
        )
        return self._back(request, object_id)

    @dialog_action(
        permission=P.ACCOUNTS_MANAGE_OPERATORS,
        description=_("End sessions"),
        title=_("Sign this operator out everywhere?"),
        url_path="end-sessions",
        submit=_("Sign out"),
        icon="logout",
    )
    def end_sessions_one(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        operator = self._detail(request, object_id)

        def call() -> None:
            services._check_manageable(operator_of(request), operator)
            services.end_all_sessions(operator, reason="ended_by_admin")

        self.run_service(request, call, _("Sessions ended for %(name)s.") % {"name": operator})
        return self._back(request, object_id)

    @dialog_action(
        permission=P.ACCOUNTS_MANAGE_OPERATORS,
        description=_("Set password"),
        title=_("Set a new password"),
        text=_("Their other sessions end."),
        url_path="set-password",
        form_class=SetPasswordDialogForm,
        submit=_("Save"),
        icon="password",
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
