"""Console forms of customer service."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.forms import BaseDialogForm
from unfold.widgets import (
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from miniops.support.models import Priority, TicketCategory


class TicketFromConversationForm(BaseDialogForm):
    category = forms.ChoiceField(
        label=_("category"), choices=TicketCategory.choices, widget=UnfoldAdminSelectWidget
    )
    priority = forms.ChoiceField(
        label=_("priority"),
        choices=Priority.choices,
        initial=Priority.NORMAL,
        widget=UnfoldAdminSelectWidget,
    )
    subject = forms.CharField(label=_("subject"), max_length=120, widget=UnfoldAdminTextInputWidget)


class TicketReplyForm(BaseDialogForm):
    text = forms.CharField(
        label=_("reply to the member"), max_length=2000, widget=UnfoldAdminTextareaWidget
    )
    pending = forms.BooleanField(label=_("wait for the member"), required=False)


class TicketNoteForm(BaseDialogForm):
    text = forms.CharField(
        label=_("internal note"), max_length=2000, widget=UnfoldAdminTextareaWidget
    )


class SubscribeInsteadForm(BaseDialogForm):
    text = forms.CharField(
        label=_("what the notice says (20 characters)"),
        max_length=20,
        widget=UnfoldAdminTextInputWidget,
    )
