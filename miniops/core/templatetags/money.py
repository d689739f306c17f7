"""``{{ amount|yuan }}``: an amount in fen shown as yuan (``28499`` -> ``¥284.99``).

The one way a console template shows money; its input twin is
:class:`miniops.core.forms.YuanField`. Empty values show as a dash."""

from __future__ import annotations

from typing import Any

from django import template

from miniops.core.money import format_fen

register = template.Library()


@register.filter
def yuan(value: Any) -> str:
    if value is None or value == "" or isinstance(value, bool):
        return "—"
    try:
        return format_fen(int(value))
    except (TypeError, ValueError):
        return str(value)
