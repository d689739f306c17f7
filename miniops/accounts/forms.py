"""Console forms for operators, roles and tokens. Validation of business rules
stays in services; these only collect and type the input."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.forms import BaseDialogForm
from unfold.widgets import UnfoldAdminPasswordWidget, UnfoldAdminTextInputWidget

from miniops.accounts.models import Operator, Role
from miniops.core.permissions import PERMISSIONS


def permission_choices(limit_to: frozenset[str] | None = None) -> list[tuple[str, Any]]:
    """Permission choices grouped by domain, optionally limited to a set."""
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for code, definition in PERMISSIONS.items():
        if limit_to is None or code in limit_to:
            groups[str(definition.group)].append((str(code), f"{definition.label} ({code})"))
    return [(group, items) for group, items in groups.items()]


class OperatorCreateForm(forms.ModelForm):
    password1 = forms.CharField(
        label=_("Password"), widget=UnfoldAdminPasswordWidget, strip=False, max_length=128
    )
    password2 = forms.CharField(
        label=_("Password again"), widget=UnfoldAdminPasswordWidget, strip=False, max_length=128
    )

    class Meta:
        model = Operator
        fields = ["username", "display_name", "email", "language", "roles"]
        widgets = {"roles": forms.CheckboxSelectMultiple}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", _("The two passwords differ."))
        return cleaned


class OperatorChangeForm(forms.ModelForm):
    class Meta:
        model = Operator
        fields = ["display_name", "email", "language", "roles"]
        widgets = {"roles": forms.CheckboxSelectMultiple}


class RoleForm(forms.ModelForm):
    permissions = forms.MultipleChoiceField(
        label=_("Permissions"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[],
    )

    class Meta:
        model = Role
        fields = ["code", "name", "description", "requires_2fa", "permissions"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "permissions" in self.fields:
            self.fields["permissions"].choices = permission_choices()  # type: ignore[attr-defined]


class ApiTokenCreateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=64, widget=UnfoldAdminTextInputWidget)
    expires_in_days = forms.IntegerField(
        label=_("Valid for (days)"), min_value=1, max_value=366, initial=90
    )
    permissions = forms.MultipleChoiceField(
        label=_("Permissions"), widget=forms.CheckboxSelectMultiple, choices=[]
    )

    def __init__(self, *args: Any, operator: Operator, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["permissions"].choices = permission_choices(operator.permissions)  # type: ignore[attr-defined]


class ReasonDialogForm(BaseDialogForm):
    reason = forms.CharField(
        label=_("Reason"), max_length=255, required=False, widget=UnfoldAdminTextInputWidget
    )


class SetPasswordDialogForm(BaseDialogForm):
    password1 = forms.CharField(
        label=_("New password"), widget=UnfoldAdminPasswordWidget, strip=False, max_length=128
    )
    password2 = forms.CharField(
        label=_("New password again"), widget=UnfoldAdminPasswordWidget, strip=False, max_length=128
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", _("The two passwords differ."))
        return cleaned
