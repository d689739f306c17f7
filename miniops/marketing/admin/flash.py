"""Flash sessions with their items."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.decorators import display

from miniops.accounts.context import operator_of
from miniops.core.console import (
    ConsoleModelAdmin,
    dialog_action,
    operator_has,
    redirect,
    site,
)
from miniops.core.permissions import P
from miniops.marketing.admin.common import MANAGE, STATUS_BADGES, ValidatedForm, status_label
from miniops.marketing.models import (
    FlashItem,
    FlashSession,
)
from miniops.marketing.services import flash, flash_sessions


# --- flash sales --------------------------------------------------------------------------
class FlashItemForm(ValidatedForm):
    validator = staticmethod(flash_sessions.validate_item)

    class Meta:
        model = FlashItem
        fields = ["sku", "flash_price", "stock", "per_member_limit"]


class FlashItemInline(TabularInline):
    model = FlashItem
    form = FlashItemForm
    extra = 0
    fields = ["sku", "flash_price", "stock", "sold", "per_member_limit"]
    readonly_fields = ["sold"]
    autocomplete_fields = ["sku"]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.MARKETING_VIEW)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.MARKETING_MANAGE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.MARKETING_MANAGE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.MARKETING_MANAGE) and (
            obj is None or obj.status == "upcoming"
        )


class FlashSessionForm(ValidatedForm):
    validator = staticmethod(flash_sessions.validate_session)

    class Meta:
        model = FlashSession
        fields = ["name", "starts_at", "ends_at", "pay_minutes"]


@admin.register(FlashSession, site=site)
class FlashSessionAdmin(ConsoleModelAdmin):
    permissions = MANAGE
    form = FlashSessionForm
    inlines = [FlashItemInline]
    list_display = ["name", "starts_at", "ends_at", "state", "sold_of_stock"]
    actions_detail = ["end_early"]

    @display(description=_("status"), label=STATUS_BADGES)
    def state(self, obj: FlashSession) -> Any:
        return status_label(obj.status)

    @display(description=_("sold"))
    def sold_of_stock(self, obj: FlashSession) -> str:
        items = list(obj.items.all())
        return f"{sum(i.sold for i in items)} / {sum(i.stock for i in items)}"

    # The session and its items are saved together by the service (validated,
    # audited, the gate rebuilt after commit), once the inline is validated too.
    def save_model(self, request: HttpRequest, obj: FlashSession, form: Any, change: bool) -> None:
        pass

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        data = form.cleaned_data
        fields = {name: data[name] for name in ("name", "starts_at", "ends_at", "pay_minutes")}
        items = [
            flash_sessions.ItemIn(
                id=item_form.instance.pk,
                sku=item_data["sku"],
                flash_price=item_data["flash_price"],
                stock=item_data["stock"],
                per_member_limit=item_data["per_member_limit"],
            )
            for formset in formsets
            if formset.model is FlashItem
            for item_form in formset.forms
            if (item_data := getattr(item_form, "cleaned_data", None))
            and not item_data.get("DELETE")
        ]
        actor = operator_of(request)
        if change:
            session = flash_sessions.update_session(
                session=form.instance, actor=actor, items=items, **fields
            )
        else:
            session = flash_sessions.create_session(actor=actor, items=items, **fields)
        form.instance.pk = session.pk
        form.instance._state.adding = False
        for formset in formsets:  # the admin reads these for its change message
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request: HttpRequest, obj: FlashSession) -> None:
        flash_sessions.delete_session(session=obj, actor=operator_of(request))

    @dialog_action(
        permission=P.MARKETING_MANAGE,
        description=_("End now"),
        title=_("End this flash sale now?"),
        text=_("Nobody can buy from it any more; orders already placed are kept."),
        url_path="end",
        icon="stop",
    )
    def end_early(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        session = get_object_or_404(FlashSession, pk=object_id)
        self.run_service(
            request,
            lambda: flash.end_early(session=session, actor=operator_of(request)),
            gettext("Ended."),
        )
        return redirect(request, reverse("console:marketing_flashsession_change", args=[object_id]))
