"""Console: operator pins and exclusions, model versions, the evaluation and A/B
page, and what a member would be recommended (member-360)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.forms import BaseDialogForm
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget, UnfoldAdminTextInputWidget

from miniops.accounts.context import operator_of
from miniops.catalog.models import Category
from miniops.core import charts, exports
from miniops.core.console import (
    DetailSection,
    ReadOnlyConsoleAdmin,
    dialog_action,
    operator_has,
    redirect,
    site,
)
from miniops.core.errors import DomainError
from miniops.core.exports import FORMATS
from miniops.core.forms import PeriodForm
from miniops.core.money import format_fen
from miniops.core.permissions import P
from miniops.core.timeutils import range_bounds
from miniops.recommendations import selectors, services
from miniops.recommendations.models import ModelVersion, RecsSettings, Rule, RuleKind

VIEW_ONLY: dict[str, str | None] = {
    "view": P.RECOMMENDATIONS_VIEW,
    "add": None,
    "change": None,
    "delete": None,
}


class RuleForm(BaseDialogForm):
    product_id = forms.IntegerField(
        label=_("Product id"), min_value=1, max_value=2**63 - 1, widget=UnfoldAdminTextInputWidget
    )
    position = forms.IntegerField(
        label=_("Position (pins)"),
        min_value=1,
        max_value=selectors.TOP,
        initial=1,
        required=False,
        widget=UnfoldAdminTextInputWidget,
    )
    note = forms.CharField(
        label=_("Why"), max_length=200, required=False, widget=UnfoldAdminTextInputWidget
    )


class SettingsForm(BaseDialogForm):
    category_cap = forms.IntegerField(
        label=_("At most per category in the top 10"),
        min_value=1,
        max_value=selectors.TOP,
        widget=UnfoldAdminTextInputWidget,
    )
    repurchase_days = forms.IntegerField(
        label=_("Consumables: not again within (days)"),
        min_value=0,
        max_value=365,
        widget=UnfoldAdminTextInputWidget,
    )
    consumable_categories = forms.ModelMultipleChoiceField(
        label=_("Consumable categories"),
        queryset=Category.objects.filter(is_active=True).order_by("level", "sort", "id"),
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
    )
    experiment_enabled = forms.BooleanField(
        label=_("A/B split: a share of the visitors get popularity only"), required=False
    )
    holdout_pct = forms.IntegerField(
        label=_("Held out: percent of visitors who get popularity only"),
        min_value=1,
        max_value=90,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("Each visitor stays in the same group while this is unchanged."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        row = RecsSettings.objects.order_by("pk").first() or RecsSettings()
        self.fields["category_cap"].initial = row.category_cap
        self.fields["repurchase_days"].initial = row.repurchase_days
        self.fields["experiment_enabled"].initial = row.experiment_enabled
        self.fields["holdout_pct"].initial = row.holdout_pct
        if row.pk:
            self.fields["consumable_categories"].initial = list(
                row.consumable_categories.values_list("pk", flat=True)
            )


def _set_rule(request: HttpRequest, form: Any, kind: str) -> HttpResponseBase:
    data = form.cleaned_data
    try:
        services.set_rule(
            actor=operator_of(request),
            product=data["product_id"],
            kind=kind,
            position=data.get("position") or 1,
            note=data.get("note") or "",
        )
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, gettext("Saved: recommendation lists change within a minute."))
    return redirect(request, reverse("console:recommendations_rule_changelist"))


@admin.register(Rule, site=site)
class RuleAdmin(ReadOnlyConsoleAdmin):
    permissions = VIEW_ONLY
    list_display = ["product", "kind", "position", "note", "created_by", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["product", "created_by"]
    search_fields = ["product__title"]
    actions_list = ["pin_product", "exclude_product", "edit_settings"]
    actions_detail = ["remove_rule"]

    @dialog_action(
        permission=P.RECOMMENDATIONS_MANAGE,
        description=_("Pin a product"),
        title=_("Pin a product"),
        text=_("Shown at this place on every recommendation list while on sale and in stock."),
        url_path="pin",
        form_class=RuleForm,
        submit=_("Pin"),
        icon="push_pin",
    )
    def pin_product(self, request: HttpRequest, form: Any) -> HttpResponseBase:
        return _set_rule(request, form, RuleKind.PIN)

    @dialog_action(
        permission=P.RECOMMENDATIONS_MANAGE,
        description=_("Exclude a product"),
        title=_("Exclude a product"),
        text=_("Never recommended, wherever the lists are shown."),
        url_path="exclude",
        form_class=RuleForm,
        submit=_("Exclude"),
        icon="block",
    )
    def exclude_product(self, request: HttpRequest, form: Any) -> HttpResponseBase:
        return _set_rule(request, form, RuleKind.EXCLUDE)

    @dialog_action(
        permission=P.RECOMMENDATIONS_MANAGE,
        description=_("Recommendation settings"),
        title=_("Recommendation settings"),
        text=_("Diversity, the repurchase window for consumables and the A/B split."),
        url_path="settings",
        form_class=SettingsForm,
        submit=_("Save"),
        icon="tune",
    )
    def edit_settings(self, request: HttpRequest, form: Any) -> HttpResponseBase:
        data = form.cleaned_data
        try:
            services.update_settings(
                actor=operator_of(request),
                category_cap=data["category_cap"],
                repurchase_days=data["repurchase_days"],
                consumable_categories=data["consumable_categories"],
                experiment_enabled=data["experiment_enabled"],
                holdout_pct=data["holdout_pct"],
            )
        except DomainError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, gettext("Saved."))
        return redirect(request, reverse("console:recommendations_rule_changelist"))

    @dialog_action(
        permission=P.RECOMMENDATIONS_MANAGE,
        description=_("Remove this rule"),
        title=_("Remove this rule"),
        text=_("The product is recommended again like any other."),
        url_path="remove",
        submit=_("Remove"),
        icon="delete",
    )
    def remove_rule(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        rule = get_object_or_404(Rule, pk=object_id)
        services.remove_rule(actor=operator_of(request), rule=rule)
        messages.success(request, gettext("Removed."))
        return redirect(request, reverse("console:recommendations_rule_changelist"))


@admin.register(ModelVersion, site=site)
class ModelVersionAdmin(ReadOnlyConsoleAdmin):
    permissions = VIEW_ONLY
    list_display = [
        "__str__",
        "trained_at",
        "is_active",
        "interactions",
        "members",
        "products",
        "seconds",
    ]
    exclude = ["artefact"]


MODEL_NAMES = {
    "item_knn_bm25": _("Item-kNN (BM25)"),
    "als": _("ALS (matrix factorisation)"),
    "popularity": _("Popularity"),
    "random": _("Random"),
}


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:+.2f} %"


def _interval_text(result: Any, *, money: bool) -> str:
    """``diff [low, high]`` for the A/B table; "—" where a group is too small."""

    def one(value: float) -> str:
        if money:
            text = format_fen(round(value))
            return f"+{text}" if value > 0 else text
        return _percent(value)

    if result.low is None or result.high is None:
        return "—"
    return f"{one(result.diff)} [{one(result.low)}, {one(result.high)}]"


def _ab_rows(ab: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for arm in selectors.ARMS:
        g = ab["groups"][arm]
        units = g["units"]
        rows.append(
            {
                "arm": arm,
                "label": ARM_LABELS[arm],
                "units": units,
                "converted": g["converted"],
                "rate": _percent(g["converted"] / units).lstrip("+") if units else "—",
                "orders": g["orders"],
                "gmv": format_fen(g["gmv"]),
                "per_member": format_fen(round(g["gmv"] / units)) if units else "—",
            }
        )
    return rows


# --- click-through -----------------------------------------------------------------------------
ARM_LABELS = {
    "recommendations": _("Recommendations"),
    "popular": _("Popularity only"),
    "": _("Related products (no split)"),
}
SOURCE_LABELS = {
    "pin": _("Operator pin"),
    "als": _("ALS (picked for the member)"),
    "item_knn": _("Item-kNN (bought or viewed together)"),
    "category_trending": _("Trending in a category"),
    "trending": _("Trending in the shop"),
    "new": _("New-arrival slot"),
    "history": _("Viewed before"),
    "": _("Unknown source"),
}
CTR_TABLES = (
    ("arms", _("A/B arm")),
    ("sources", _("Source")),
    ("positions", _("Positions")),
)


def _ctr_label(table: str, key: str) -> str:
    if table == "arms":
        return str(ARM_LABELS.get(key, key))
    if table == "sources":
        return str(SOURCE_LABELS.get(key, key))
    return gettext("Positions %(band)s") % {"band": key}


def _ctr_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One table: each arm, then each source, then each position band."""
    return [
        {
            "table": table,
            "key": row["key"],
            "group": str(title),
            "label": _ctr_label(table, row["key"]),
            "impressions": row["impressions"],
            "shown": row["shown"],
            "clicks": row["clicks"],
            "ctr": row["ctr"],
            "ctr_text": "—" if row["ctr"] is None else f"{row['ctr'] * 100:.2f} %",
        }
        for table, title in CTR_TABLES
        for row in report[table]
    ]


def _ctr_chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Click-through per source (bars, left, a ratio) and products shown (line, right)."""
    sources = [r for r in rows if r["table"] == "sources"]
    return charts.chart(
        "bar",
        [r["label"] for r in sources],
        [
            charts.Series(
                gettext("Click-through"), [r["ctr"] or 0 for r in sources], charts.COLORS[0]
            ),
            charts.Series(
                gettext("Products shown"),
                [r["shown"] for r in sources],
                charts.COLORS[1],
                axis="y2",
                type="line",
            ),
        ],
        x_title=gettext("Source"),
        y_title=gettext("Click-through"),
        y2_title=gettext("Products shown"),
        percent=("y",),
    )


def _ctr_export(request: HttpRequest, rows: list[dict[str, Any]], first: Any, last: Any) -> Any:
    return exports.export(
        name=f"recommendations-ctr-{first.isoformat()}-{last.isoformat()}",
        fmt=request.GET["fmt"],
        header=[
            gettext("Breakdown"),
            gettext("Group"),
            gettext("Lists shown"),
            gettext("Products shown"),
            gettext("Clicks"),
            gettext("Click-through"),
        ],
        rows=(
            [
                r["group"],
                r["label"],
                r["impressions"],
                r["shown"],
                r["clicks"],
                "" if r["ctr"] is None else round(r["ctr"], 6),
            ]
            for r in rows
        ),
        actor=operator_of(request),
        permission=P.RECOMMENDATIONS_VIEW,
        model=ModelVersion,
        description=gettext("Recommendation click-through export"),
        additional={"start": first.isoformat(), "end": last.isoformat(), "rows": len(rows)},
    )


@site.register_page(
    name="recommendations_evaluation",
    route="recommendations/evaluation/",
    permission=P.RECOMMENDATIONS_VIEW,
    title=_("Recommendation quality"),
    icon="recommend",
)
def evaluation_page(request: HttpRequest) -> HttpResponseBase:
    form, first, last = PeriodForm.from_query(request.GET)
    period = range_bounds(first, last)
    ctr_rows = _ctr_rows(selectors.impression_report(period=period))
    if request.GET.get("fmt") in FORMATS and form.is_valid():
        if not operator_has(request, P.RECOMMENDATIONS_VIEW):
            raise PermissionDenied
        return _ctr_export(request, ctr_rows, first, last)
    version = ModelVersion.objects.filter(is_active=True).defer("artefact").first()
    figures = (version.params or {}).get("evaluation") if version else None
    rows = []
    if figures and figures.get("models"):
        base = figures["models"].get("popularity", {}).get("ndcg") or 0
        for name, r in figures["models"].items():
            rows.append(
                {
                    "name": MODEL_NAMES.get(name, name),
                    "ndcg": f"{r['ndcg']:.4f}",
                    "hit_rate": f"{r['hit_rate']:.4f}",
                    "recall": f"{r['recall']:.4f}",
                    "coverage": f"{r['coverage']:.4f}",
                    "ratio": f"{r['ndcg'] / base:.2f}×" if base else "—",
                }
            )
    ab = selectors.ab_report(period=period)
    page = site.page_context(
        request,
        title=_("Recommendation quality"),
        form=form,
        period_query=urlencode({"start": first.isoformat(), "end": last.isoformat()}),
        ctr_rows=ctr_rows,
        ctr_chart=_ctr_chart(ctr_rows),
        version=version,
        info=(figures or {}).get("info"),
        rows=rows,
        ab=ab,
        ab_rows=_ab_rows(ab),
        ab_effect={
            "conversion": _interval_text(ab["conversion"], money=False),
            "gmv": _interval_text(ab["gmv"], money=True),
            "total": "—"
            if ab["incremental_gmv"] is None
            else format_fen(round(ab["incremental_gmv"])),
        },
    )
    return TemplateResponse(
        request, "recommendations/evaluation.html", page, status=200 if form.is_valid() else 400
    )


# --- member-360 -------------------------------------------------------------------------------
def _member_recommendations(request: HttpRequest, member: Any) -> dict[str, Any]:
    return {
        "items": selectors.explain(member.pk, limit=10),
        "arm": selectors.arm_for(member_id=member.pk, anonymous_id=None),
    }


site.register_section(
    DetailSection(
        "members.member",
        "recommendations",
        _("Recommended to this member"),
        P.RECOMMENDATIONS_VIEW,
        "recommendations/member_recommendations.html",
        _member_recommendations,
        order=40,
    )
)
