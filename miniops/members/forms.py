from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.forms import BaseDialogForm
from unfold.widgets import UnfoldAdminTextInputWidget

from miniops.members.models import MemberTag


class BlockDialogForm(BaseDialogForm):
    reason = forms.CharField(label=_("Reason"), max_length=255, widget=UnfoldAdminTextInputWidget)


class TagForm(forms.Form):
    tags = forms.ModelMultipleChoiceField(
        label=_("Tags"), queryset=MemberTag.objects.all(), widget=forms.CheckboxSelectMultiple
    )
    remove = forms.BooleanField(label=_("Remove these tags instead of adding them"), required=False)
