"""Audit entries in words: ``状态：已支付 → 已发货``, not ``{'status': ['paid', 'shipped']}``.

auditlog stores each change as the field's name and its values as text. Read back
against the model, a change names the field by its label, shows a choice by its
label, an amount in yuan and a yes/no as words; many-to-many changes
(``{'type': 'm2m', 'operation': 'add', 'objects': [...]}``) read as "added: …".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auditlog.models import LogEntry
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.text import capfirst
from django.utils.translation import gettext

from miniops.core.fields import MoneyField
from miniops.core.money import format_fen

_EMPTY = {"None", "", "null", None}


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


def _value(field: models.Field[Any, Any] | None, raw: Any) -> str:
    if raw in _EMPTY:
        return "—"
    if field is None:
        return str(raw)
    if field.flatchoices:
        labels = {str(value): str(label) for value, label in field.flatchoices}
        return labels.get(str(raw), str(raw))
    if isinstance(field, models.BooleanField):
        return gettext("Yes") if str(raw).lower() in ("true", "1") else gettext("No")
    if isinstance(field, MoneyField):
        try:
            return format_fen(int(str(raw)))
        except ValueError:
            return str(raw)
    return str(raw)


def changes(entry: LogEntry) -> list[Change]:
    """Each change of ``entry`` as (field label, before, after), in the operator's language."""
    data = entry.changes if isinstance(entry.changes, dict) else {}
    model = entry.content_type.model_class() if entry.content_type_id else None
    found: list[Change] = []
    for name, values in data.items():
        field: Any = None
        if model is not None:
            try:
                field = model._meta.get_field(name)
            except FieldDoesNotExist:
                field = None
        label = capfirst(str(getattr(field, "verbose_name", name)))
        if isinstance(values, dict) and values.get("type") == "m2m":
            objects = ", ".join(str(o) for o in values.get("objects") or [])
            verb = gettext("added") if values.get("operation") == "add" else gettext("removed")
            found.append(Change(label, "", f"{verb}: {objects}"))
        elif isinstance(values, list | tuple) and len(values) == 2:
            found.append(Change(label, _value(field, values[0]), _value(field, values[1])))
        else:
            found.append(Change(label, "", _value(field, values)))
    return found


def summary(entry: LogEntry) -> str:
    """``状态：已支付 → 已发货；备注：— → 加急`` for one line of a timeline."""
    parts = []
    for change in changes(entry):
        if change.before:
            parts.append(gettext("%(field)s: %(before)s → %(after)s") % change.__dict__)
        else:
            parts.append(gettext("%(field)s: %(after)s") % change.__dict__)
    return gettext("; ").join(parts)
