"""Money fields read in yuan on every console list and read-only field.

Django's and unfold's ``display_for_field`` show a ``BigIntegerField`` as a number:
``28499``. A :class:`miniops.core.fields.MoneyField` is fen, so the console wraps
the one function both render lists and read-only fields with, once, at start-up:
a money field shows as ``¥284.99`` everywhere without each admin listing it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from miniops.core.fields import MoneyField
from miniops.core.money import format_fen

_MODULES = (
    "django.contrib.admin.utils",
    "django.contrib.admin.templatetags.admin_list",
    "django.contrib.admin.helpers",
    "unfold.utils",
    "unfold.fields",
    "unfold.sections",
    "unfold.templatetags.unfold_list",
)


def _in_yuan(display: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(display, "shows_yuan", False):
        return display

    def display_for_field(value: Any, field: Any, empty_value_display: str, *args: Any) -> Any:
        if isinstance(field, MoneyField) and not getattr(field, "flatchoices", None):
            if value is None or value == "":
                return empty_value_display
            return format_fen(int(value))
        return display(value, field, empty_value_display, *args)

    display_for_field.shows_yuan = True  # type: ignore[attr-defined]
    return display_for_field


def install() -> None:
    import importlib

    for name in _MODULES:
        module = importlib.import_module(name)
        if hasattr(module, "display_for_field"):
            module.display_for_field = _in_yuan(module.display_for_field)  # type: ignore[attr-defined]
