"""The console home: cards chosen by the operator's permissions.

Domains register their own cards with ``site.register_widget`` in their
``admin.py``; this module renders whatever the operator may see.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from miniops.core.console import site


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    cards = []
    for widget in site.visible_widgets(request):
        cards.append({"widget": widget, **widget.context(request)})
    context.update({"dashboard_cards": cards})
    return context
