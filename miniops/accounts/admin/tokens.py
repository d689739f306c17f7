"""Management API tokens: each operator's own, revocable by operator managers."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from miniops.accounts import services
from miniops.accounts.context import operator_of
from miniops.accounts.forms import ApiTokenCreateForm
from miniops.accounts.models import ApiToken
from miniops.core.console import (
    ConsoleModelAdmin,
    dialog_action,
    mark_invalid_post,
    operator_has,
    redirect,
    site,
)
from miniops.core.errors import DomainError
from miniops.core.permissions import P


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
    def status_badge(self, obj: ApiToken) -> Any:
        words = {"active": _("Active"), "expired": _("Expired"), "revoked": _("Revoked")}
        return obj.status, words.get(obj.status, obj.status)

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

    @dialog_action(
        permission=(P.API_TOKENS_USE, P.ACCOUNTS_MANAGE_OPERATORS),
        description=_("Revoke"),
        title=_("Revoke this token?"),
        text=_("Calls using it are refused at once."),
        url_path="revoke",
        icon="key_off",
    )
    def revoke_one(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        token = get_object_or_404(self.get_queryset(request), pk=object_id)
        self.run_service(
            request,
            lambda: services.revoke_api_token(token=token, actor=operator_of(request)),
            _("Token revoked."),
        )
        return redirect(request, reverse("console:accounts_apitoken_change", args=[object_id]))
