"""Shared pieces of the marketing console: permission sets, the validated form, badges."""

from __future__ import annotations

from typing import Any

from django import forms

from miniops.core.errors import InvalidInput
from miniops.core.permissions import P

MANAGE: dict[str, str | None] = {
    "view": P.MARKETING_VIEW,
    "add": P.MARKETING_MANAGE,
    "change": P.MARKETING_MANAGE,
    "delete": P.MARKETING_MANAGE,
}
POINTS: dict[str, str | None] = {
    "view": P.MARKETING_VIEW,
    "add": P.MARKETING_POINTS,
    "change": P.MARKETING_POINTS,
    "delete": P.MARKETING_POINTS,
}
VIEW_ONLY: dict[str, str | None] = {
    "view": P.MARKETING_VIEW,
    "add": None,
    "change": None,
    "delete": None,
}


class ValidatedForm(forms.ModelForm):
    """Runs the service's rules on the instance the form would save."""

    validator: Any = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        instance = self.instance
        # Plain columns only: many-to-many fields (a coupon's categories) cannot
        # even be read on an instance that is not saved yet; nor the primary key,
        # which an inline form cleans into the object itself.
        columns = {field.name for field in instance._meta.concrete_fields if not field.primary_key}
        for name, value in data.items():
            if name in columns:
                try:
                    setattr(instance, name, value)
                except (TypeError, ValueError):
                    continue
        try:
            type(self).validator(instance)
        except InvalidInput as exc:
            for field, message in exc.fields.items():
                self.add_error(field if field in self.fields else None, str(message))
        return data


def _status_badge(status: str) -> str:
    return {"upcoming": "info", "running": "success", "ended": "warning"}.get(status, "info")


#: The badge colour of a campaign's status.
STATUS_BADGES = {"upcoming": "info", "running": "success", "ended": "warning"}


def status_label(status: str) -> tuple[str, str]:
    """``(value, label)`` for a campaign status badge: colour by the value, the words
    in the operator's language."""
    from miniops.marketing.models.common import CampaignStatus

    try:
        return status, str(CampaignStatus(status).label)
    except ValueError:
        return status, status
