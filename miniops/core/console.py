"""The console mechanism: the admin site, the base model admin, custom pages.

Every console page names the permission it needs, and the checks happen here,
server-side, for every request:

* model pages subclass ``ConsoleModelAdmin`` and fill ``permissions`` with one
  code (or ``None`` for "nobody") for each of view / add / change / delete;
* custom pages are registered with ``site.register_page(...)`` and a permission
  (``None`` means any signed-in operator);
* the site itself admits only active operators who passed two-factor
  authentication when their roles require it.

The matrix tests walk ``site._registry`` and ``site.pages``, so a page added
without a declared permission fails the suite.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.sites import UnfoldAdminSite

from miniops.core.errors import DomainError

ACTIONS = ("view", "add", "change", "delete")


def redirect(request: HttpRequest, url: str) -> HttpResponse:
    """Go to ``url`` after an action: dialog actions post through htmx, which needs
    ``HX-Redirect`` to navigate the page instead of swapping the answer in."""
    if request.headers.get("HX-Request") == "true":
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


def mark_invalid_post(request: HttpRequest, response: Any) -> Any:
    """A POST that re-renders its form (instead of redirecting) was refused: say
    so with 400, so clients and tests can tell bad input from success."""
    if (
        request.method == "POST"
        and "_popup" not in request.POST
        and getattr(response, "status_code", 0) == 200
    ):
        response.status_code = 400
    return response


def operator_has(request: HttpRequest, code: str | None) -> bool:
    """Does the signed-in operator hold ``code``? ``None`` grants nobody."""
    user = getattr(request, "user", None)
    if code is None or user is None or not user.is_authenticated:
        return False
    return bool(getattr(user, "has_permission", lambda _c: False)(code))


def second_factor_ok(request: HttpRequest) -> bool:
    user = request.user
    if not getattr(user, "requires_2fa", False):
        return True
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())


@dataclass(frozen=True)
class ConsolePage:
    name: str
    route: str
    view: Callable[..., HttpResponseBase]
    #: ``None``: any signed-in operator.
    permission: str | None
    title: str | Promise
    icon: str = "article"


@dataclass(frozen=True)
class DashboardWidget:
    """A card on the console home. Domains add theirs with ``site.register_widget``."""

    key: str
    title: str | Promise
    #: ``None``: every operator sees it.
    permission: str | None
    template: str
    context: Callable[[HttpRequest], dict[str, Any]]
    order: int = 100
    #: Columns out of 6 on wide screens.
    width: int = 3


@dataclass(frozen=True)
class DetailSection:
    """A card that another domain adds to a detail page (member-360: orders,
    points, coupons...). ``data(request, obj)`` returns the template context."""

    model: str  # "app_label.model_name"
    key: str
    title: str | Promise
    permission: str | None
    template: str
    data: Callable[[HttpRequest, Any], dict[str, Any]]
    order: int = 100


class ConsoleSite(UnfoldAdminSite):
    index_title = _("Dashboard")
    site_title = "miniops"
    site_header = "miniops"

    def __init__(self, name: str = "console") -> None:
        super().__init__(name)
        self.pages: list[ConsolePage] = []
        self.widgets: list[DashboardWidget] = []
        self.sections: list[DetailSection] = []
        # Filled by the apps that own them (core imports no app): the console's
        # password page, and what must happen before an operator signs out.
        self.password_change_view: Callable[[HttpRequest], HttpResponseBase] | None = None
        self.logout_hooks: list[Callable[[HttpRequest], None]] = []

    # --- who may enter ---------------------------------------------------------
    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(
            user.is_active and getattr(user, "is_operator", False) and second_factor_ok(request)
        )

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        user = request.user
        if user.is_authenticated and user.is_active and not second_factor_ok(request):
            return HttpResponseRedirect(reverse("console_2fa:verify"))
        return super().login(request, extra_context)

    def password_change(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        if self.password_change_view is not None:
            return self.password_change_view(request)
        return super().password_change(request, extra_context)

    def logout(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        if request.user.is_authenticated and request.method == "POST":
            for hook in self.logout_hooks:
                hook(request)
        return super().logout(request, extra_context)

    # --- custom pages ----------------------------------------------------------
    def register_page(
        self,
        *,
        name: str,
        route: str,
        permission: str | None,
        title: str | Promise,
        icon: str = "article",
    ) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
        def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
            if any(page.name == name for page in self.pages):
                raise ImproperlyConfigured(f"console page {name!r} registered twice")
            self.pages.append(ConsolePage(name, route, view, permission, title, icon))
            return view

        return decorator

    def register_widget(self, widget: DashboardWidget) -> None:
        if any(existing.key == widget.key for existing in self.widgets):
            raise ImproperlyConfigured(f"dashboard widget {widget.key!r} registered twice")
        self.widgets.append(widget)

    def visible_widgets(self, request: HttpRequest) -> list[DashboardWidget]:
        return sorted(
            (
                w
                for w in self.widgets
                if w.permission is None or operator_has(request, w.permission)
            ),
            key=lambda w: (w.order, w.key),
        )

    def register_section(self, section: DetailSection) -> None:
        if any((s.model, s.key) == (section.model, section.key) for s in self.sections):
            raise ImproperlyConfigured(f"section {section.model}/{section.key} registered twice")
        self.sections.append(section)

    def sections_for(self, request: HttpRequest, obj: Model) -> list[dict[str, Any]]:
        label = f"{obj._meta.app_label}.{obj._meta.model_name}"
        chosen = sorted(
            (
                s
                for s in self.sections
                if s.model == label
                and (s.permission is None or operator_has(request, s.permission))
            ),
            key=lambda s: (s.order, s.key),
        )
        return [
            {"key": s.key, "title": s.title, "template": s.template, "data": s.data(request, obj)}
            for s in chosen
        ]

    def page(self, name: str) -> ConsolePage:
        for candidate in self.pages:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    def _guard(self, page: ConsolePage) -> Callable[..., HttpResponseBase]:
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if page.permission is not None and not operator_has(request, page.permission):
                raise PermissionDenied
            return page.view(request, *args, **kwargs)

        guarded.console_page = page  # type: ignore[attr-defined]
        return guarded

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(page.route, self.admin_view(self._guard(page)), name=page.name)
            for page in self.pages
        ]
        return custom + super().get_urls()

    def page_context(self, request: HttpRequest, **extra: Any) -> dict[str, Any]:
        return {**self.each_context(request), **extra}


site = ConsoleSite()


class ConsoleModelAdmin(ModelAdmin):
    """Base for every model page. ``permissions`` maps view/add/change/delete to a
    permission code, or ``None`` when nobody may do it through the console."""

    permissions: ClassVar[Mapping[str, str | None]] = {}

    def __init__(self, model: type[Model], admin_site: Any) -> None:
        missing = [action for action in ACTIONS if action not in self.permissions]
        if missing:
            raise ImproperlyConfigured(
                f"{type(self).__name__}.permissions must declare {', '.join(missing)}"
            )
        super().__init__(model, admin_site)

    def _allowed(self, request: HttpRequest, action: str) -> bool:
        return operator_has(request, self.permissions[action])

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, "view") or self._allowed(request, "change")

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._allowed(request, "add")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, "change")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, "delete")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    # --- services refusing a save ------------------------------------------------------
    # ``save_model`` and ``delete_model`` call services, which raise DomainError when
    # a business rule refuses the change. The admin's transaction then rolls back,
    # and the form is shown again with the service's message (and field errors).
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        try:
            response = super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            request._console_error = exc  # type: ignore[attr-defined]
            response = super().changeform_view(request, object_id, form_url, extra_context)
        return mark_invalid_post(request, response)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form_class = super().get_form(request, obj, change, **kwargs)
        pending: DomainError | None = getattr(request, "_console_error", None)
        if pending is None:
            return form_class
        error: DomainError = pending

        class FormWithServiceError(form_class):  # type: ignore[misc,valid-type]
            def clean(self) -> Any:
                cleaned = super().clean()
                placed = False
                for name, message in error.fields.items():
                    if name in self.fields:
                        self.add_error(name, str(message))
                        placed = True
                if not placed or error.message:
                    self.add_error(None, str(error.message))
                return cleaned

        return FormWithServiceError

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> Any:
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            messages.error(request, str(exc.message))
            return HttpResponseRedirect(request.path.rsplit("/delete/", 1)[0] + "/change/")

    def run_service(self, request: HttpRequest, call: Callable[[], Any], success: Any) -> bool:
        """Run a service from a console action, turning a refusal into a message."""
        try:
            call()
        except DomainError as exc:
            messages.error(request, str(exc.message))
            return False
        messages.success(request, str(success))
        return True


class ReadOnlyConsoleAdmin(ConsoleModelAdmin):
    """A model page nobody may add to, change or delete (audit rows, ledgers)."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [field.name for field in self.model._meta.fields]
