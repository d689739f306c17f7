from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.forms import BaseDialogForm
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from miniops.core.forms import PeriodForm
from miniops.orders.models import Carrier


class ShipDialogForm(BaseDialogForm):
    carrier = forms.ChoiceField(
        label=_("Carrier"), choices=Carrier.choices, widget=UnfoldAdminSelectWidget
    )
    tracking_no = forms.CharField(
        label=_("Tracking number"), max_length=40, widget=UnfoldAdminTextInputWidget
    )


class ReasonDialogForm(BaseDialogForm):
    reason = forms.CharField(label=_("Reason"), max_length=255, widget=UnfoldAdminTextInputWidget)


class OptionalNoteDialogForm(BaseDialogForm):
    note = forms.CharField(
        label=_("Note"), max_length=255, required=False, widget=UnfoldAdminTextInputWidget
    )


class NoteDialogForm(BaseDialogForm):
    text = forms.CharField(
        label=_("Internal note"), max_length=1000, widget=forms.Textarea(attrs={"rows": 3})
    )


class BulkShipForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "Columns: order number, carrier code (SF, ZTO, YTO, YD, STO, JD, EMS, JT), "
            "tracking number."
        ),
    )

    def clean_file(self) -> str:
        upload = self.cleaned_data["file"]
        if upload.size > 2 * 1024 * 1024:
            raise forms.ValidationError(_("At most 2 MB."))
        raw = upload.read()
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                return str(raw.decode(encoding))
            except UnicodeDecodeError:
                continue
        raise forms.ValidationError(_("Save the file as UTF-8 or GBK text."))


class DateRangeForm(PeriodForm):
    fmt = forms.ChoiceField(
        label=_("Format"),
        choices=[("html", _("Show")), ("csv", "CSV"), ("xlsx", "XLSX")],
        required=False,
    )
    table = forms.ChoiceField(
        label=_("Export"),
        choices=[
            ("orders", _("Orders paid")),
            ("payments", _("Payments")),
            ("refunds", _("Refunds")),
        ],
        required=False,
        help_text=_("What a CSV or XLSX holds."),
    )
