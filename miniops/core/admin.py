from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from miniops.core import services
from miniops.core.console import ConsoleModelAdmin, site
from miniops.core.models import SystemSettings
from miniops.core.permissions import P
from miniops.core.selectors import get_system_settings


@admin.register(SystemSettings, site=site)
class SystemSettingsAdmin(ConsoleModelAdmin):
    """One row: the list page opens it directly; no add, no delete."""

    permissions = {
        "view": P.SYSTEM_MANAGE_SETTINGS,
        "add": None,
        "change": P.SYSTEM_MANAGE_SETTINGS,
        "delete": None,
    }
    fieldsets = [
        (_("Brand"), {"fields": ["platform_name", "logo", "theme_primary", "theme_secondary"]}),
        (_("Mini-program"), {"fields": ["miniprogram_app_id"]}),
        (_("Customer service"), {"fields": ["cs_phone", "cs_wechat", "cs_email", "cs_hours"]}),
        (_("Catalog"), {"fields": ["low_stock_threshold"]}),
    ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        if not self.has_view_permission(request) or request.method == "POST":
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied  # one row, no list and so no bulk actions
        row = get_system_settings()
        return HttpResponseRedirect(reverse("console:core_systemsettings_change", args=[row.pk]))

    def save_model(
        self, request: HttpRequest, obj: SystemSettings, form: Any, change: bool
    ) -> None:
        services.update_system_settings(actor=request.user, instance=obj)
