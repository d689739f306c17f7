"""Console form fields shared by every app."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.forms import BaseDialogForm
from unfold.widgets import UnfoldAdminTextInputWidget

from miniops.core.money import MAX_FEN, MoneyError, fen_to_yuan, yuan_to_fen


class YuanField(forms.CharField):
    """Operators type yuan ("12.50"); the model stores fen (1250).

    The form field of every :class:`miniops.core.fields.MoneyField`; use it too for
    an amount on a plain form. Its display twin is the ``yuan`` template filter
    (``{% load money %}``)."""

    default_error_messages = {"invalid": _("Enter an amount in yuan with at most two decimals.")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No max_length: Django would check it against the cleaned *integer*.
        kwargs.setdefault(
            "widget",
            UnfoldAdminTextInputWidget(
                attrs={
                    "inputmode": "decimal",
                    "maxlength": 16,
                    "prefix": "¥",
                    "placeholder": "0.00",
                    # room for the prefix, which unfold draws over the input's padding
                    "class": "pl-8",
                }
            ),
        )
        super().__init__(*args, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return fen_to_yuan(value)
        return value

    def to_python(self, value: Any) -> int | None:  # type: ignore[override]
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        if len(str(text)) > 16:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            amount = yuan_to_fen(str(text))
        except MoneyError as exc:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from exc
        if amount > MAX_FEN:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return int(amount)

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(data) != initial
        except forms.ValidationError:
            return True


def specs_to_text(specs: list[dict[str, Any]]) -> str:
    """``[{"name": "颜色", "values": ["红", "蓝"]}]`` -> ``颜色: 红, 蓝`` (one per line)."""
    return "\n".join(f"{s['name']}: {', '.join(s['values'])}" for s in specs or [])


def text_to_specs(text: str) -> list[dict[str, Any]]:
    specs = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        name, sep, values = line.replace("：", ":").partition(":")
        if not sep:
            raise forms.ValidationError(_("Write each specification as “name: value, value”."))
        parts = [v.strip() for v in values.replace("，", ",").replace("、", ",").split(",")]
        specs.append({"name": name.strip(), "values": [v for v in parts if v]})
    return specs


class DatePicker(forms.DateInput):
    """The browser's date picker. Its value must be ISO (``2026-11-25``) whatever
    the console language: a localised format (``2026/11/25``) reads as empty, and
    the browser then refuses to submit a required field."""

    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class PeriodForm(forms.Form):
    """A period of whole days in the business time zone, at most a year long."""

    start = forms.DateField(label=_("From"), widget=DatePicker())
    end = forms.DateField(label=_("To (inclusive)"), widget=DatePicker())

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and (end < start or (end - start).days > 366):
            raise forms.ValidationError(_("Choose a range of at most a year, end after start."))
        return cleaned

    @classmethod
    def from_query(
        cls, query: Mapping[str, Any], *, days: int = 30
    ) -> tuple[PeriodForm, date, date]:
        """The form bound to a page's query string and the period it gives: the
        last ``days`` days (today included) when the query names none, or when what
        it names is not a period (the page then shows the form's error)."""
        from miniops.core.timeutils import local_date

        today = local_date()
        default = (today - timedelta(days=days - 1), today)
        if "start" in query or "end" in query:
            form = cls({"start": query.get("start", ""), "end": query.get("end", "")})
        else:
            form = cls({"start": default[0], "end": default[1]})
        if form.is_valid():
            return form, form.cleaned_data["start"], form.cleaned_data["end"]
        return form, *default


class ConfirmDialogForm(BaseDialogForm):
    """The confirmation of a console action that asks nothing more: its hidden
    ``_form_submitted`` field is only sent by the dialog's POST."""
