"""Every URL of the console with the permissions it needs, read from what is
registered: the site's own views, custom pages, each model page's views, its
action buttons and its extra URLs. The generic console tests walk this list, so a
page or action added tomorrow is checked without a line of test code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Model
from django.urls import URLPattern, URLResolver

from miniops.core.console import BUTTON_ACTIONS, ConsoleModelAdmin, site

#: The standard views of a model page, by the suffix of their URL name.
MODEL_VIEWS = ("changelist", "add", "change", "delete", "history")


@dataclass(frozen=True)
class Route:
    url: str
    #: the URL name (``console:<name>``) or the pattern when it has none
    name: str
    #: "site" (index, login, search...), "page" (``site.register_page``), "model"
    #: (a model page's changelist/add/change/delete/history), "action" (a button
    #: built with ``dialog_action``), "custom" (``url_permissions``), "undeclared"
    kind: str
    model_admin: ConsoleModelAdmin | None = None
    #: opening it (GET): any of these permissions; ``None``: any signed-in operator
    get_needs: tuple[str, ...] | None = None
    #: posting to it: any of these; ``()``: nobody
    post_needs: tuple[str, ...] | None = None
    action: Any = None
    view: str = ""


def _codes(*codes: str | None) -> tuple[str, ...]:
    return tuple(str(code) for code in codes if code)


def _concrete(pattern: str, values: dict[str, Any]) -> str:
    for name, value in values.items():
        for converter in ("path", "int", "str", "slug", "uuid"):
            pattern = pattern.replace(f"<{converter}:{name}>", str(value))
        pattern = pattern.replace(f"<{name}>", str(value))
    return pattern


def _model_routes(model_admin: ConsoleModelAdmin, obj: Model, prefix: str) -> Iterator[Route]:
    opts = model_admin.model._meta
    base = f"{opts.app_label}_{opts.model_name}_"
    perms = model_admin.permissions
    view = _codes(perms["view"], perms["change"])
    standard = {
        "changelist": (view, _codes(perms["change"])),
        "add": (_codes(perms["add"]), _codes(perms["add"])),
        "change": (view, _codes(perms["change"])),
        "delete": (_codes(perms["delete"]), _codes(perms["delete"])),
        "history": (view, ()),
    }
    buttons = {
        item.action_name: item.method
        for attribute in BUTTON_ACTIONS
        for item in getattr(model_admin, f"_get_base_{attribute}")()
    }
    for pattern in model_admin.get_urls():
        if not isinstance(pattern, URLPattern):
            continue
        url = "/console/" + prefix + _concrete(str(pattern.pattern), {"object_id": obj.pk})
        name = pattern.name or ""
        suffix = name.removeprefix(base) if name.startswith(base) else ""
        if suffix in standard:
            get_needs, post_needs = standard[suffix]
            yield Route(url, name, "model", model_admin, get_needs, post_needs, view=suffix)
        elif name in buttons:
            method = buttons[name]
            needs = getattr(method, "console_permissions", None)
            kind = "action" if needs is not None else "undeclared"
            yield Route(url, name, kind, model_admin, needs, needs, action=method)
        elif suffix in model_admin.url_permissions:
            needs = _codes(model_admin.url_permissions[suffix])
            yield Route(url, name, "custom", model_admin, needs, needs)
        elif not name and str(pattern.pattern) == "<path:object_id>/":
            yield Route(url, str(pattern.pattern), "model", model_admin, view, (), view="redirect")
        else:
            yield Route(url, name or str(pattern.pattern), "undeclared", model_admin)


def routes(objects: Callable[[type[Model]], Model]) -> list[Route]:
    """Every console URL, made concrete with ``objects(model)`` for detail URLs."""
    found: list[Route] = []
    pages = {page.name: page for page in site.pages}
    sample: Model | None = None
    for model, model_admin in site._registry.items():
        obj = objects(model)
        sample = sample or obj
        opts = model._meta
        found.extend(_model_routes(model_admin, obj, f"{opts.app_label}/{opts.model_name}/"))
    for pattern in site.get_urls():
        if isinstance(pattern, URLResolver):
            continue  # the model pages above
        raw = str(pattern.pattern)
        name = pattern.name or raw
        if name in pages:
            code = pages[name].permission
            needs = _codes(code) if code else None
            found.append(Route("/console/" + raw, name, "page", None, needs, needs))
        elif name == "app_list":
            for label in {m._meta.app_label for m in site._registry}:
                found.append(Route(f"/console/{label}/", name, "site"))
        elif name == "view_on_site" and sample is not None:
            content_type = ContentType.objects.get_for_model(sample)
            url = "/console/" + _concrete(
                raw, {"content_type_id": content_type.pk, "object_id": sample.pk}
            )
            found.append(Route(url, name, "site"))
        elif raw == "(?P<url>.*)$":
            continue  # the catch-all that redirects unknown paths
        else:
            found.append(Route("/console/" + raw, name, "site"))
    return found


def button_actions(model_admin: ConsoleModelAdmin) -> list[Any]:
    """The unfold actions (buttons) of a model page."""
    return [
        item
        for attribute in BUTTON_ACTIONS
        for item in getattr(model_admin, f"_get_base_{attribute}")()
    ]


def bulk_actions(model_admin: ConsoleModelAdmin) -> list[tuple[Any, str]]:
    """The changelist's "selected rows" actions: (function, name)."""
    return [(func, name) for func, name, _label in model_admin._get_base_actions()]
