"""The data of a console chart, drawn by ``core/charts.js`` with the Chart.js that
unfold serves. A view builds a :func:`chart` and the template writes it with
``{{ chart|json_script:"some-id" }}`` next to
``<canvas class="miniops-chart" data-chart="some-id">`` and
``<script src="{% static 'core/charts.js' %}">`` — no inline script, so the
Content-Security-Policy holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

COLORS = ["#3b82f6", "#f97316", "#10b981", "#a855f7", "#ef4444", "#eab308"]
#: the lighter twin of each colour, for a compared period drawn dashed
PALE = ["#93c5fd", "#fdba74", "#6ee7b7", "#d8b4fe", "#fca5a5", "#fde047"]


@dataclass
class Series:
    label: str
    data: list[Any]
    color: str = COLORS[0]
    dashed: bool = False
    axis: str = "y"  # "y" (left) or "y2" (right)
    type: str | None = None  # a bar series in a line chart, or the reverse
    dates: list[str] | None = None  # what each point is, when not the x label (compared period)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": str(self.label),
            "data": self.data,
            "color": self.color,
            "dashed": self.dashed,
            "axis": self.axis,
        }
        if self.type:
            out["type"] = self.type
        if self.dates is not None:
            out["dates"] = self.dates
        return out


def chart(
    kind: str,
    labels: list[Any],
    series: list[Series],
    *,
    x_title: str = "",
    y_title: str = "",
    y2_title: str = "",
    money: tuple[str, ...] = (),
    percent: tuple[str, ...] = (),
    horizontal: bool = False,
    value_labels: list[str] | None = None,
) -> dict[str, Any]:
    """``kind`` is "line" or "bar"; ``money`` names the axes in fen (shown as yuan),
    ``percent`` those holding ratios; ``value_labels`` are written at each bar of
    the first series."""
    config: dict[str, Any] = {
        "type": kind,
        "labels": [str(label) for label in labels],
        "datasets": [s.as_json() for s in series],
        "axes": {"x": str(x_title), "y": str(y_title), "y2": str(y2_title)},
        "money": list(money),
        "percent": list(percent),
        "horizontal": horizontal,
    }
    if value_labels is not None:
        config["valueLabels"] = [str(v) for v in value_labels]
    return config
