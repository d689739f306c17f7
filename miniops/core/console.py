"""The console mechanism: the admin site, the base model admin, custom pages.

Every console page names the permission it needs, and the checks happen here,
server-side, for every request:

* model pages subclass ``ConsoleModelAdmin`` and fill ``permissions`` with one
  code (or ``None`` for "nobody") for each of view / add / change / delete;
* custom pages are registered with ``site.register_page(...)`` and a permission
  (``None`` means any signed-in operator);
* the site itself admits only active operators who passed two-factor
  authentication when their roles require it;
* actions are built with ``dialog_action`` (buttons on a detail page or a list)
  and ``bulk_action`` (the changelist's "selected rows" menu). Both name the one
  permission they need; an action that changes data runs only on the POST of its
  confirmation (dialog or page), never on a GET.

The matrix tests walk ``site._registry``, every admin's actions and ``site.pages``,
so a page or action added without a declared permission fails the suite.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import action as unfold_action
from unfold.enums import ActionVariant
from unfold.forms import BaseDialogForm
from unfold.sites import UnfoldAdminSite

from miniops.core.db import deletable
from miniops.core.errors import DomainError
from miniops.core.forms import ConfirmDialogForm

ACTIONS = ("view", "add", "change", "delete")
#: The unfold attributes listing an admin's action buttons.
BUTTON_ACTIONS = ("actions_detail", "actions_list", "actions_row", "actions_submit_line")
#: Sent only by the confirmation page of a bulk action.
CONFIRMED = "_confirmed"
#: What an action needs: one permission code, or a few of which any one suffices
#: (revoking an API token: its owner's ``api_tokens.use``, or managing operators).
Needs = str | tuple[str, ...]


def _codes(needs: Needs) -> tuple[str, ...]:
    return (str(needs),) if isinstance(needs, str) else tuple(str(code) for code in needs)


def redirect(request: HttpRequest, url: str) -> HttpResponse:
    """Go to ``url`` after an action: dialog actions post through htmx, which needs
    ``HX-Redirect`` to navigate the page instead of swapping the answer in."""
    if request.headers.get("HX-Request") == "true":
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


def show_in_dialog(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """A dialog action's answer that is read in place (revealed personal data): the
    page's ``#dialog`` becomes the answer's ``#dialog`` under htmx; without htmx the
    answer is a page of its own. Never cached."""
    response["Cache-Control"] = "no-store"
    if request.headers.get("HX-Request") == "true":
        response["HX-Retarget"] = "#dialog"
        response["HX-Reselect"] = "#dialog"
        response["HX-Reswap"] = "outerHTML"
    return response


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


def operator_has_any(request: HttpRequest, codes: tuple[str, ...]) -> bool:
    return any(operator_has(request, code) for code in codes)


def second_factor_ok(request: HttpRequest) -> bool:
    user = request.user
    if not getattr(user, "requires_2fa", False):
        return True
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())


# --- actions ------------------------------------------------------------------------------
def dialog_action(
    *,
    permission: Needs,
    description: str | Promise,
    title: str | Promise,
    url_path: str,
    text: str | Promise = "",
    form_class: type[BaseDialogForm] | None = None,
    submit: str | Promise | None = None,
    icon: str | None = None,
    variant: ActionVariant = ActionVariant.DEFAULT,
    shown_if: Callable[[Any], bool] | None = None,
) -> Callable[[Callable[..., HttpResponseBase]], Any]:
    """A button of a console page (``actions_detail``, ``actions_list`` or
    ``actions_row``) that changes data, or shows what must be confirmed first.

    A GET of its URL only answers the confirmation dialog (``title``, ``text`` and
    ``form_class``'s fields); the decorated method runs on the dialog's POST with a
    valid form — CSRF-checked by the admin view, and carrying the hidden field that
    only the dialog sends. The button is shown to, and the URL answers, only
    operators holding ``permission`` (a code, or any one of a tuple of codes; 403
    otherwise); the service the method calls checks it again. The method gets
    ``(request, form)`` plus ``object_id`` on a detail page or row. On a detail
    page, ``shown_if(obj)`` false hides the button (nothing to put on sale that is
    on sale already); the service still refuses what its state forbids.
    """
    codes = _codes(permission)

    def decorator(func: Callable[..., HttpResponseBase]) -> Any:
        @wraps(func)
        def run(model_admin: Any, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if request.method != "POST":  # unfold binds the form only to POST data
                raise PermissionDenied
            return func(model_admin, request, *args, **kwargs)

        # unfold's own ``permissions=`` wants Django permission rows or
        # ``has_<name>_permission`` methods; ours come from the role table.
        built = unfold_action(
            description=description,
            url_path=url_path,
            icon=icon,
            variant=variant,
            dialog={
                "title": title,
                "description": text,
                "form_class": form_class or ConfirmDialogForm,
                "form_submit_text": submit or description,
            },
        )(run)

        @wraps(built)
        def guarded(model_admin: Any, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not operator_has_any(request, codes):
                raise PermissionDenied
            return built(model_admin, request, *args, **kwargs)

        guarded.console_permissions = codes  # type: ignore[attr-defined]
        guarded.console_confirmed = True  # type: ignore[attr-defined]
        guarded.console_shown_if = shown_if  # type: ignore[attr-defined]
        return guarded

    return decorator


class BulkForm(forms.Form):
    """A bulk action's form that reads the selected rows (``form_class`` of
    ``bulk_action``): it gets the ``queryset``, on the confirmation page and on its
    POST alike, so it can list what the operator should know (``warnings``, shown
    above the fields) and ask for more when needed."""

    def __init__(self, *args: Any, queryset: QuerySet[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queryset = queryset
        self.warnings: list[str] = []


def bulk_action(
    *,
    permission: Needs,
    description: str | Promise,
    title: str | Promise | None = None,
    text: str | Promise = "",
    form_class: type[forms.Form] | None = None,
    submit: str | Promise | None = None,
    confirm: bool = True,
) -> Callable[[Callable[..., Any]], Any]:
    """An entry of a changelist's "selected rows" menu (an admin's ``actions``).

    Django runs it on the POST of the action bar. With ``confirm`` (required of
    every action that changes data) that POST only answers a page naming what is
    selected, with ``form_class``'s fields; the decorated method runs on that
    page's own POST, with ``(request, queryset)`` and the valid ``form`` when there
    is one. ``confirm=False`` is for reads (exports). Operators without
    ``permission`` are not offered the action, and posting it anyway answers 403.
    """
    codes = _codes(permission)

    def decorator(func: Callable[..., Any]) -> Any:
        @wraps(func)
        def run(model_admin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
            if request.method != "POST" or not operator_has_any(request, codes):
                raise PermissionDenied
            if not confirm:
                return func(model_admin, request, queryset)
            confirmed = request.POST.get(CONFIRMED) == "yes"
            form: forms.Form | None = None
            if form_class is not None:
                data = request.POST if confirmed else None
                if issubclass(form_class, BulkForm):
                    form = form_class(data, queryset=queryset)
                else:
                    form = form_class(data)
            if confirmed and (form is None or form.is_valid()):
                if form is None:
                    return func(model_admin, request, queryset)
                return func(model_admin, request, queryset, form)
            return _confirm_selected(
                model_admin,
                request,
                queryset,
                action_name=func.__name__,
                title=title or description,
                text=text,
                form=form,
                submit=submit or description,
            )

        built: Any = admin.action(description=description)(run)  # type: ignore[arg-type]
        built.console_permissions = codes
        built.console_confirmed = confirm
        return built

    return decorator


def _confirm_selected(
    model_admin: Any,
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    action_name: str,
    title: str | Promise,
    text: str | Promise,
    form: forms.Form | None,
    submit: str | Promise,
) -> TemplateResponse:
    select_across = request.POST.get("select_across") == "1"
    selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    count = queryset.count()
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "text": text,
        "form": form,
        "submit_label": submit,  # (not "submit": the button component takes that name)
        "count": count,
        "preview": [str(obj) for obj in queryset[:20]],
        "more": max(count - 20, 0),
        "action_name": action_name,
        "select_across": select_across,
        "selected": selected[:1] if select_across else selected,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "confirmed_field": CONFIRMED,
        "opts": model_admin.model._meta,
    }
    response = TemplateResponse(request, "console/bulk_confirm.html", context)
    if form is not None and form.is_bound:
        response.status_code = 400
    return response


def action_permissions(model_admin: Any, func: Any) -> tuple[str, ...] | None:
    """The permissions an action of ``model_admin`` declares, any of which lets an
    operator run it (``None``: it declares none, which the matrix tests refuse).
    Django's own ``delete_selected`` needs the page's delete permission."""
    codes = getattr(func, "console_permissions", None)
    if codes is not None:
        return tuple(codes)
    if getattr(func, "__name__", "") == "delete_selected":
        code = model_admin.permissions.get("delete")
        return (str(code),) if code else ()
    return None


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


class ConsoleAutocompleteView(AutocompleteJsonView):
    """The search-as-you-type pickers' answers. A model page with an
    ``autocomplete_label(obj)`` labels its results with it (a category by its
    full path, “服装 / 女装 / 连衣裙”), instead of ``str(obj)``."""

    def serialize_result(self, obj: Model, to_field_name: str) -> dict[str, Any]:
        result: dict[str, Any] = super().serialize_result(obj, to_field_name)
        label = getattr(self.model_admin, "autocomplete_label", None)
        if label is not None:
            result["text"] = str(label(obj))
        return result


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

    def autocomplete_view(self, request: HttpRequest) -> HttpResponseBase:
        return ConsoleAutocompleteView.as_view(admin_site=self)(request)

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
    #: Extra URLs the page adds beyond its views and actions (an import, an
    #: export), by the end of their URL name, with what each needs.
    url_permissions: ClassVar[Mapping[str, str]] = {}
    #: Hide the delete button (and refuse the delete page) of a row that protected
    #: rows point at — a sold product, an issued coupon — rather than offer a
    #: deletion the database refuses.
    hide_refused_delete: ClassVar[bool] = False

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
        # No delete button the database would refuse (protected rows point at it).
        return self._allowed(request, "delete") and (
            obj is None or not self.hide_refused_delete or deletable(obj)
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    # --- actions --------------------------------------------------------------------------
    def _held(self, request: HttpRequest, actions: list[Any]) -> list[Any]:
        return [
            item
            for item in actions
            if (codes := getattr(item.method, "console_permissions", None)) is None
            or operator_has_any(request, codes)
        ]

    def get_actions_detail(self, request: HttpRequest, object_id: Any) -> list[Any]:
        """Only the buttons whose declared permission the operator holds, and that
        apply to the object in its present state."""
        held = self._held(request, super().get_actions_detail(request, object_id))
        if not any(getattr(item.method, "console_shown_if", None) for item in held):
            return held
        obj = self.get_object(request, str(object_id)) if object_id else None
        return [
            item
            for item in held
            if (shown_if := getattr(item.method, "console_shown_if", None)) is None
            or obj is None
            or shown_if(obj)
        ]

    def get_actions_list(self, request: HttpRequest) -> list[Any]:
        return self._held(request, super().get_actions_list(request))

    def get_actions_row(self, request: HttpRequest) -> list[Any]:
        return self._held(request, super().get_actions_row(request))

    def get_actions_submit_line(self, request: HttpRequest, object_id: Any) -> list[Any]:
        return self._held(request, super().get_actions_submit_line(request, object_id))

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        """Only the actions whose declared permission the operator holds."""
        return {
            name: entry
            for name, entry in super().get_actions(request).items()
            if (codes := action_permissions(self, entry[0])) is None
            or operator_has_any(request, codes)
        }

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        name = request.POST.get("action", "") if request.method == "POST" else ""
        if not name or "_save" in request.POST:
            return super().changelist_view(request, extra_context)
        # Django answers an action the operator may not run with "no action
        # selected" (a redirect); refuse it plainly instead.
        known = {action_name for _func, action_name, _label in self._get_base_actions()}
        if name in known and name not in self.get_actions(request):
            raise PermissionDenied
        # A service refusing one row of a bulk action undoes the whole action.
        try:
            with transaction.atomic():
                return super().changelist_view(request, extra_context)
        except DomainError as exc:
            messages.error(request, str(exc.message))
            return HttpResponseRedirect(request.get_full_path())

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """Deleting selected rows deletes each through ``delete_model``, so the
        service behind it (its checks, its audit row) runs for every row, as on the
        row's own delete page."""
        for obj in queryset:
            self.delete_model(request, obj)

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
