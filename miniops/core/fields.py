"""Model fields shared by every app."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.text import capfirst

from miniops.core import crypto


class EncryptedTextField(models.TextField):
    """Text stored encrypted (see ``miniops.core.crypto``); reads decrypt.

    Not filterable: look values up through a blind-index column instead. Empty
    strings are stored as empty (nothing to hide) so "not set" stays queryable.
    """

    description = "Encrypted text"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(str(value))

    def get_lookup(self, lookup_name: str) -> Any:
        # Encryption is randomised: equality on cipher text never matches.
        if lookup_name != "isnull":
            return None
        return super().get_lookup(lookup_name)


class MoneyField(models.BigIntegerField):
    """An amount in fen (integer). Pair with a CheckConstraint where it must be >= 0."""

    description = "Amount in fen"

    def formfield(self, **kwargs: Any) -> Any:
        """Operators type and read yuan: every console form of a money field is a
        :class:`miniops.core.forms.YuanField` (the model keeps fen)."""
        from miniops.core.forms import YuanField

        defaults: dict[str, Any] = {
            "form_class": YuanField,
            "required": not self.blank,
            "label": capfirst(self.verbose_name),
            "help_text": self.help_text,
        }
        defaults.update(kwargs)
        form_class = defaults.pop("form_class")
        for ignored in ("min_value", "max_value", "step_size", "choices_form_class"):
            defaults.pop(ignored, None)
        if self.has_default() and "initial" not in defaults:
            default = self.get_default()
            if default is not None:
                defaults["initial"] = default
        return form_class(**defaults)
