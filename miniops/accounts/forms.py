"""Console forms for operators, roles and tokens. Validation of business rules
stays in services; these only collect and type the input."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django import forms
from django.utils import translation
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


def permission_groups() -> dict[str, tuple[str, list[str]]]:
    """Each permission group by a stable key (its English name): its label in the
    operator's language and the codes it holds."""
    groups: dict[str, tuple[str, list[str]]] = {}
    for code, definition in PERMISSIONS.items():
        with translation.override("en"):
            key = str(definition.group)
        groups.setdefault(key, (str(definition.group), []))[1].append(str(code))
    return groups


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
    #: A shortcut: ticking a group grants every permission in it (one click, not one
    #: per permission); the service checks the merged list as if ticked one by one.
    permission_groups = forms.MultipleChoiceField(
        label=_("Whole groups"),
        help_text=_("Grants every permission of the groups ticked here."),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[],
    )
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
        if "permission_groups" in self.fields:
            groups = permission_groups().items()
            self.fields["permission_groups"].choices = [  # type: ignore[attr-defined]
                (key, f"{label} ({len(codes)})") for key, (label, codes) in groups
            ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        picked = cleaned.get("permission_groups") or []
        if picked:
            groups = permission_groups()
            merged = list(cleaned.get("permissions") or [])
            for key in picked:
                merged += [code for code in groups[key][1] if code not in merged]
            cleaned["permissions"] = merged
        return cleaned


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
