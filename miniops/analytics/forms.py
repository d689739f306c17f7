"""Report forms of the analytics console pages (all read with GET)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from miniops.analytics import selectors, services
from miniops.analytics.models import AlertRule
from miniops.core.errors import InvalidInput
from miniops.core.forms import DatePicker
from miniops.core.timeutils import local_date

DATE = DatePicker()


def default_range(days: int = 30) -> dict[str, date]:
    today = local_date()
    return {"first": today - timedelta(days=days - 1), "last": today}


class RangeForm(forms.Form):
    first = forms.DateField(label=_("From"), widget=DATE)
    last = forms.DateField(label=_("To (inclusive)"), widget=DATE)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, last = data.get("first"), data.get("last")
        for name in ("first", "last"):
            value = data.get(name)
            if value and not selectors.EARLIEST <= value <= selectors.LATEST:
                self.add_error(name, _("A date between 2000 and 2099."))
                return data
        if first and last:
            if last < first:
                self.add_error("last", _("The end is before the start."))
            elif (last - first).days >= selectors.MAX_RANGE_DAYS:
                self.add_error("last", _("At most a year."))
        return data


class TrendForm(RangeForm):
    metric = forms.ChoiceField(label=_("Metric"), choices=list(selectors.METRICS.items()))
    grain = forms.ChoiceField(
        label=_("By"), choices=[("day", _("day")), ("week", _("week")), ("month", _("month"))]
    )
    compare_first = forms.DateField(label=_("Compare from"), widget=DATE, required=False)
    compare_last = forms.DateField(label=_("Compare to"), widget=DATE, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        first, last = data.get("compare_first"), data.get("compare_last")
        for name, value in (("compare_first", first), ("compare_last", last)):
            if value and not selectors.EARLIEST <= value <= selectors.LATEST:
                self.add_error(name, _("A date between 2000 and 2099."))
                return data
        if bool(first) != bool(last):
            self.add_error("compare_last", _("Give both ends of the compared range."))
        elif first and last:
            if last < first:
                self.add_error("compare_last", _("The end is before the start."))
            elif (last - first).days >= selectors.MAX_RANGE_DAYS:
                self.add_error("compare_last", _("At most a year."))
        return data


class RetentionForm(RangeForm):
    grain = forms.ChoiceField(
        label=_("Cohorts by"), choices=[("day", _("day")), ("week", _("week"))]
    )
    periods = forms.IntegerField(label=_("Periods"), min_value=1, max_value=60, initial=30)
    cohort_by = forms.ChoiceField(
        label=_("Cohort"),
        choices=[("first_visit", _("first visit")), ("registration", _("registration"))],
    )
    returned_event = forms.CharField(
        label=_("Returned means"),
        required=False,
        max_length=64,
        help_text=_("Empty: any activity. Or an event name, e.g. order_paid."),
    )


#: rows of the step picker (the service allows as many steps)
PICKER_ROWS = services.MAX_STEPS


class FunnelForm(RangeForm):
    """The funnel builder. Steps come from the picker (``steps_event``,
    ``steps_property`` and ``steps_value``, one of each per row: an event seen in the
    data and an optional property filter), or as text in ``steps`` (one step per
    line, ``event property=value``), which links and older bookmarks use."""

    steps = forms.CharField(
        label=_("Steps"),
        widget=forms.HiddenInput,
        max_length=2000,
        help_text=_("Pick each step from the events seen; filter it by a property if needed."),
    )
    window_hours = forms.IntegerField(
        label=_("Conversion window (hours)"), min_value=1, max_value=720, initial=24
    )
    breakdown = forms.ChoiceField(
        label=_("Break down by"),
        required=False,
        choices=[
            ("", _("nothing")),
            ("scene", _("scene")),
            ("channel", _("channel")),
            ("utm_source", _("UTM source")),
            ("platform", _("platform")),
        ],
    )
    name = forms.CharField(label=_("Name (to save)"), required=False, max_length=80)

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        if data is not None and "steps_event" in data:
            data = data.copy()
            data["steps"] = picked_steps_text(data)
        super().__init__(data, *args, **kwargs)
        self.known_events = selectors.event_names()

    def step_rows(self) -> list[dict[str, Any]]:
        """The picker's rows: the steps given (or the default), then empty rows."""
        value = self["steps"].value() or ""
        rows: list[dict[str, Any]] = []
        for line in str(value).splitlines():
            event, prop, cond_value = _parse_line(line)
            if event or prop:
                rows.append({"event": event, "property": prop, "value": cond_value})
        rows = rows[:PICKER_ROWS]
        while len(rows) < PICKER_ROWS:
            rows.append({"event": "", "property": "", "value": ""})
        for index, row in enumerate(rows, start=1):
            row["number"] = index
            row["unknown"] = bool(row["event"]) and row["event"] not in self.known_events
        return rows

    def clean_steps(self) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = []
        errors: list[str] = []
        for line in self.cleaned_data["steps"].splitlines():
            event, prop, value = _parse_line(line)
            if not event and not prop:
                continue
            number = len(steps) + 1
            if not event:
                errors.append(_("Step %(n)d: pick an event.") % {"n": number})
            elif event not in self.known_events:
                errors.append(
                    _("Step %(n)d: “%(event)s” is not an event seen in the data.")
                    % {"n": number, "event": event[:64]}
                )
            if prop and not services.PROPERTY_NAME.fullmatch(prop):
                errors.append(
                    _("Step %(n)d: a property name has letters, digits and _ only.") % {"n": number}
                )
            elif value and not prop:
                errors.append(_("Step %(n)d: name the property to filter on.") % {"n": number})
            elif prop and not value:
                errors.append(
                    _("Step %(n)d: give the value the property must have.") % {"n": number}
                )
            steps.append(
                {"event": event, "property": prop, "value": value} if prop else {"event": event}
            )
        if errors:
            raise forms.ValidationError(errors)
        try:
            return services.clean_steps(steps)
        except InvalidInput as exc:
            raise forms.ValidationError(
                "; ".join(str(message) for message in exc.fields.values())
            ) from None


def _parse_line(line: str) -> tuple[str, str, str]:
    """``event property=value`` → its three parts (empty strings when absent)."""
    event, _sep, condition = line.strip().partition(" ")
    prop, _eq, value = condition.strip().partition("=")
    return event.strip(), prop.strip(), value.strip()


def picked_steps_text(data: Any) -> str:
    """The picker's rows as step lines; a row with no event and no filter is skipped,
    a filter without its event is kept so that the form can say so."""
    events = data.getlist("steps_event")
    props = data.getlist("steps_property")
    values = data.getlist("steps_value")
    lines = []
    for index, event in enumerate(events[:PICKER_ROWS]):
        prop = (props[index] if index < len(props) else "").strip()
        value = (values[index] if index < len(values) else "").strip()
        event = event.strip()
        if not event and not prop:
            continue
        line = event
        if prop or value:
            line += f" {prop}={value}"
        lines.append(line)
    return "\n".join(lines)


class SourcesForm(RangeForm):
    by = forms.ChoiceField(
        label=_("By"),
        choices=[
            ("scene", _("scene")),
            ("channel", _("channel")),
            ("utm_source", _("UTM source")),
            ("share", _("share links")),
        ],
    )


def steps_text(steps: list[dict[str, Any]]) -> str:
    lines = []
    for step in steps:
        line = step["event"]
        if step.get("property"):
            line += f" {step['property']}={step['value']}"
        lines.append(line)
    return "\n".join(lines)


class AlertRuleForm(forms.ModelForm):
    webhook_url = forms.URLField(
        label=_("webhook"),
        required=False,
        assume_scheme="https",
        help_text=_(
            "Optional: the alert is POSTed there as JSON (WeCom, DingTalk, Feishu robots)."
        ),
    )

    class Meta:
        model = AlertRule
        fields = [
            "name",
            "metric",
            "condition",
            "threshold",
            "window_minutes",
            "cooldown_minutes",
            "webhook_url",
            "is_active",
        ]

    def clean(self) -> dict[str, Any]:
        """The service's rules, shown on the fields they concern."""
        data = super().clean() or {}
        if self.errors:
            return data
        candidate = AlertRule(**{name: data.get(name) for name in self._meta.fields or ()})
        try:
            services.validate_alert_rule(candidate)
        except InvalidInput as exc:
            for field, message in exc.fields.items():
                self.add_error(field if field in self.fields else None, str(message))
        return data
