"""Console: banners, articles (with a preview), the home layout (ordered,
scheduled, targeted sections) and a preview of the home as a member or anonymous."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from miniops.accounts.context import operator_of
from miniops.catalog.html import sanitise
from miniops.cms import audience, selectors, services
from miniops.cms.models import Article, Banner, HomeSection, LinkKind, SectionKind
from miniops.core.console import ConsoleModelAdmin, dialog_action, operator_has, redirect, site
from miniops.core.errors import DomainError, InvalidInput
from miniops.core.permissions import P
from miniops.core.responses import error_response

MANAGE: dict[str, str | None] = {
    "view": P.CMS_VIEW,
    "add": P.CMS_MANAGE,
    "change": P.CMS_MANAGE,
    "delete": P.CMS_MANAGE,
}
STATE_LABELS = {
    "live": _("Live"),
    "scheduled": _("Scheduled"),
    "ended": _("Ended"),
    "off": _("Off"),
}
STATE_COLOURS = {"live": "success", "scheduled": "info", "ended": "warning", "off": "danger"}


def _thumb(url: str | None, width: int = 96, height: int = 40) -> str:
    if not url:
        return "—"
    return format_html(
        '<img src="{}" width="{}" height="{}" style="object-fit:cover;border-radius:4px" alt="">',
        url,
        width,
        height,
    )


def _field_errors(form: forms.BaseForm, exc: InvalidInput) -> None:
    placed = False
    for name, message in exc.fields.items():
        target = {"audience": "audience"}.get(name, name)
        if target in form.fields:
            form.add_error(target, str(message))
            placed = True
    if not placed:
        form.add_error(None, str(exc.message))


# --- banners --------------------------------------------------------------------------
class BannerForm(forms.ModelForm):
    class Meta:
        model = Banner
        fields = ["title", "image", "link_kind", "link_ref", "starts_at", "ends_at", "sort"]
        fields += ["is_active"]
        help_texts = {
            "link_ref": _(
                "The id of the product, category, flash sale, group buy, coupon or article; "
                "for a page, its path (e.g. /pages/coupons/index)."
            ),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            services.validate_link(data.get("link_kind") or "", data.get("link_ref") or "")
            services._schedule(data.get("starts_at"), data.get("ends_at"))
        except InvalidInput as exc:
            _field_errors(self, exc)
        return data


@admin.register(Banner, site=site)
class BannerAdmin(ConsoleModelAdmin):
    permissions = MANAGE
    form = BannerForm
    list_display = ["title", "preview", "link", "starts_at", "ends_at", "sort", "state"]
    list_filter = ["is_active", "link_kind"]
    search_fields = ["title"]
    ordering = ["sort", "id"]

    @display(description=_("Image"))
    def preview(self, obj: Banner) -> str:
        return _thumb(obj.image.url if obj.image else None)

    @display(description=_("Links to"))
    def link(self, obj: Banner) -> str:
        if not obj.link_kind:
            return "—"
        return f"{LinkKind(obj.link_kind).label}: {obj.link_ref}"

    @display(description=_("status"), label=STATE_COLOURS)
    def state(self, obj: Banner) -> Any:
        state = obj.schedule_state()
        return state, STATE_LABELS[state]

    def save_model(self, request: HttpRequest, obj: Banner, form: Any, change: bool) -> None:
        data = form.cleaned_data
        saved = services.save_banner(
            actor=operator_of(request),
            banner=Banner.objects.get(pk=obj.pk) if change else None,
            title=data["title"],
            image=data.get("image") if "image" in form.changed_data else None,
            link_kind=data.get("link_kind") or "",
            link_ref=data.get("link_ref") or "",
            starts_at=data.get("starts_at"),
            ends_at=data.get("ends_at"),
            sort=data.get("sort") or 0,
            is_active=bool(data.get("is_active")),
        )
        obj.pk = saved.pk
        obj.image = saved.image

    def delete_model(self, request: HttpRequest, obj: Banner) -> None:
        services.delete_banner(actor=operator_of(request), banner=obj)


# --- articles ---------------------------------------------------------------------------
class ArticleForm(forms.ModelForm):
    class Meta:
        model = Article
        fields = ["title", "summary", "cover", "body", "status"]
        widgets = {"body": forms.Textarea(attrs={"rows": 16})}
        help_texts = {
            "body": _(
                "HTML: paragraphs, headings, lists, tables, images and links. Scripts, "
                "styles and event handlers are removed when it is saved."
            ),
        }

    def clean_body(self) -> str:
        try:
            return services.clean_body(self.cleaned_data.get("body") or "")
        except InvalidInput as exc:
            raise forms.ValidationError(str(exc.fields.get("body", exc.message))) from exc


@admin.register(Article, site=site)
class ArticleAdmin(ConsoleModelAdmin):
    permissions = MANAGE
    form = ArticleForm
    list_display = ["title", "cover_preview", "status", "published_at", "updated_at"]
    list_filter = ["status"]
    search_fields = ["title", "summary"]
    readonly_fields = ["rendered"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = ["title", "summary", "cover", "body", "status"]
        return [*fields, "rendered"] if obj is not None else fields

    @display(description=_("Cover"))
    def cover_preview(self, obj: Article) -> str:
        return _thumb(obj.cover.url if obj.cover else None, 60, 40)

    @display(description=_("Preview"))
    def rendered(self, obj: Article) -> str:
        # Stored sanitised; cleaned again here so the console never trusts the row.
        return mark_safe(  # noqa: S308
            f'<div class="cms-article-preview prose max-w-none">{sanitise(obj.body)}</div>'
        )

    def save_model(self, request: HttpRequest, obj: Article, form: Any, change: bool) -> None:
        data = form.cleaned_data
        cover = data.get("cover") if "cover" in form.changed_data else None
        saved = services.save_article(
            actor=operator_of(request),
            article=Article.objects.get(pk=obj.pk) if change else None,
            title=data["title"],
            summary=data.get("summary") or "",
            body=data.get("body") or "",
            cover=(cover or b"") if "cover" in form.changed_data else None,
            status=data["status"],
        )
        obj.pk = saved.pk
        obj.cover = saved.cover

    def delete_model(self, request: HttpRequest, obj: Article) -> None:
        services.delete_article(actor=operator_of(request), article=obj)


# --- the home layout -----------------------------------------------------------------------
class HomeSectionForm(forms.ModelForm):
    audience = forms.ChoiceField(
        label=_("Shown to"),
        required=False,
        help_text=_("Anonymous visitors see only sections shown to everyone."),
    )

    class Meta:
        model = HomeSection
        fields = ["kind", "title", "limit", "starts_at", "ends_at", "audience", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options: list[tuple[str, str]] = [("", str(_("Everyone")))]
        for choice in audience.choices():
            count = f" ({choice.count})" if choice.count is not None else ""
            options.append((choice.key, f"{choice.label}{count}"))
        current = self.instance.audience if self.instance and self.instance.pk else ""
        if current and current not in {key for key, _label in options}:
            options.append((current, current))
        self.fields["audience"].choices = options  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            data["audience"] = audience.validate(data.get("audience") or "")
            services._schedule(data.get("starts_at"), data.get("ends_at"))
        except InvalidInput as exc:
            _field_errors(self, exc)
        return data


@admin.register(HomeSection, site=site)
class HomeSectionAdmin(ConsoleModelAdmin):
    permissions = MANAGE
    form = HomeSectionForm
    list_display = ["position", "section", "kind", "limit", "shown_to", "starts_at", "ends_at"]
    list_display += ["state"]
    list_display_links = ["section"]
    ordering = ["position", "id"]
    actions_row = ["move_up", "move_down"]
    change_list_template = "cms/homesection_changelist.html"
    #: the drag-and-drop (and arrow-key) reorder of the list posts here
    url_permissions = {"reorder": P.CMS_MANAGE}

    def get_urls(self) -> list[Any]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_reorder"
        view = self.admin_site.admin_view(self.reorder_view)
        return [path("reorder/", view, name=name), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        words = {
            "saved": gettext("The new order is saved."),
            "failed": gettext("The new order could not be saved: %(reason)s"),
            "handle": gettext("Move this section (drag, or the up and down arrow keys)"),
        }
        context = {
            **(extra_context or {}),
            "can_reorder": operator_has(request, P.CMS_MANAGE),
            "reorder_words": words,
        }
        return super().changelist_view(request, extra_context=context)

    def reorder_view(self, request: HttpRequest) -> HttpResponseBase:
        """POST ``ids`` (every section once, top first): the new order of the home
        page, through ``services.reorder_sections`` (audited). JSON either way."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not operator_has(request, P.CMS_MANAGE):
            raise PermissionDenied
        raw = request.POST.getlist("ids")
        ids: Any = [int(i) for i in raw if i.isascii() and i.isdigit() and len(i) < 12]
        if len(ids) != len(raw):
            ids = raw  # not all whole numbers: the service refuses it
        try:
            ordered = services.reorder_sections(actor=operator_of(request), ids=ids)
        except DomainError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.fields)
        return JsonResponse({"sections": [{"id": s.pk, "position": s.position} for s in ordered]})

    @display(description=_("Section"))
    def section(self, obj: HomeSection) -> str:
        return str(obj)

    @display(description=_("Shown to"))
    def shown_to(self, obj: HomeSection) -> str:
        return audience.label(obj.audience) if obj.audience else str(_("Everyone"))

    @display(description=_("status"), label=STATE_COLOURS)
    def state(self, obj: HomeSection) -> Any:
        state = obj.schedule_state()
        return state, STATE_LABELS[state]

    def save_model(self, request: HttpRequest, obj: HomeSection, form: Any, change: bool) -> None:
        data = form.cleaned_data
        saved = services.save_section(
            actor=operator_of(request),
            section=HomeSection.objects.get(pk=obj.pk) if change else None,
            kind=data["kind"],
            title=data.get("title") or "",
            starts_at=data.get("starts_at"),
            ends_at=data.get("ends_at"),
            audience_key=data.get("audience") or "",
            limit=data["limit"],
            is_active=bool(data.get("is_active")),
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: HomeSection) -> None:
        services.delete_section(actor=operator_of(request), section=obj)

    def _move(self, request: HttpRequest, object_id: Any, direction: str) -> HttpResponseBase:
        section = get_object_or_404(HomeSection, pk=object_id)
        self.run_service(
            request,
            lambda: services.move_section(
                actor=operator_of(request), section=section, direction=direction
            ),
            gettext("Moved."),
        )
        return redirect(request, reverse("console:cms_homesection_changelist"))

    @dialog_action(
        permission=P.CMS_MANAGE,
        description=_("Move up"),
        title=_("Move this section up?"),
        text=_("It swaps places with the section above it on the home page."),
        url_path="move-up",
        icon="arrow_upward",
    )
    def move_up(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        return self._move(request, object_id, "up")

    @dialog_action(
        permission=P.CMS_MANAGE,
        description=_("Move down"),
        title=_("Move this section down?"),
        text=_("It swaps places with the section below it on the home page."),
        url_path="move-down",
        icon="arrow_downward",
    )
    def move_down(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        return self._move(request, object_id, "down")


# --- the preview ---------------------------------------------------------------------------
def _preview_at(raw: str) -> datetime | None:
    if not raw:
        return None
    moment = parse_datetime(raw) if len(raw) <= 40 else None
    if moment is None:
        raise ValueError
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


@site.register_page(
    name="cms_home_preview",
    route="cms/preview/",
    permission=P.CMS_VIEW,
    title=_("Home preview"),
    icon="preview",
)
def home_preview(request: HttpRequest) -> HttpResponseBase:
    """The home page as a member (or an anonymous visitor) sees it, now or at a
    chosen time. A read: nothing is written."""
    from miniops.members.models import Member

    errors: list[str] = []
    raw_member = request.GET.get("member", "").strip()
    raw_at = request.GET.get("at", "").strip()
    member = None
    if raw_member:
        if raw_member.isascii() and raw_member.isdigit() and 0 < int(raw_member) < 2**63:
            member = Member.objects.filter(pk=int(raw_member)).first()
        if member is None:
            errors.append(gettext("There is no member #%s.") % raw_member[:20])
    try:
        at = _preview_at(raw_at)
    except ValueError:
        errors.append(gettext("Give the time as YYYY-MM-DD HH:MM."))
        at = None
    data = selectors.home(member_id=member.pk if member else None, now=at)
    context = site.page_context(
        request,
        title=_("Home preview"),
        member=member,
        raw_member=raw_member[:20],
        raw_at=raw_at[:40],
        at=at,
        errors=errors,
        home=data,
        kind_labels=SectionKind.choices,
        layout_url=reverse("console:cms_homesection_changelist"),
    )
    return TemplateResponse(
        request, "cms/home_preview.html", context, status=400 if errors else 200
    )
