"""Console pages of the content app: the review queue (keyboard-driven), the
model pages (posts, comments, reviews, reports, cases, appeals, platform checks,
topics, the lexicon), the lexicon's import / export / test, reviewer figures and
the dashboard widget."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from miniops.accounts.context import operator_of
from miniops.content import selectors
from miniops.content.models import (
    Appeal,
    CaseStatus,
    Comment,
    Kind,
    LexiconEntry,
    ModerationCase,
    PlatformCheck,
    Post,
    Report,
    Review,
    Topic,
)
from miniops.content.services import lexicon, moderation, publishing
from miniops.core import exports
from miniops.core.console import (
    ConsoleModelAdmin,
    DashboardWidget,
    ReadOnlyConsoleAdmin,
    bulk_action,
    dialog_action,
    mark_invalid_post,
    operator_has,
    redirect,
    site,
)
from miniops.core.errors import DomainError
from miniops.core.permissions import P

READ_ONLY = {"view": P.CONTENT_VIEW, "add": None, "change": None, "delete": None}


# --- the review queue ---------------------------------------------------------------------------
def _case_context(case: ModerationCase) -> dict[str, Any]:
    item = publishing.item_of(case.kind, case.object_id)
    hits = [s for s in case.signals.all()[:30]]
    text = item.text if item is not None else case.excerpt
    highlighted: list[tuple[str, bool]] = []
    spans = sorted(
        (s.detail.get("start", 0), s.detail.get("end", 0))
        for s in hits
        if s.source == "lexicon" and isinstance(s.detail, dict)
    )
    cursor = 0
    for start, end in spans:
        if start < cursor or end > len(text):
            continue
        highlighted += [(text[cursor:start], False), (text[start:end], True)]
        cursor = end
    highlighted.append((text[cursor:], False))
    appeal = Appeal.objects.filter(case=case).first()
    images = getattr(item, "images", []) if item is not None else []
    return {
        "case": case,
        "item": item,
        "highlighted": highlighted,
        "signals": hits,
        "images": selectors.image_urls(images),
        "appeal": appeal,
        "reports": Report.objects.filter(kind=case.kind, object_id=case.object_id)[:10],
    }


def _queue_rows(request: HttpRequest) -> QuerySet[ModerationCase]:
    rows = ModerationCase.objects.filter(status=CaseStatus.OPEN).select_related("claimed_by")
    kind = request.GET.get("kind", "")
    if kind in Kind.values:
        rows = rows.filter(kind=kind)
    category = request.GET.get("category", "")
    if category:
        rows = rows.filter(signals__category=category).distinct()
    age = request.GET.get("age", "")
    if age in {"1", "24", "72"}:
        rows = rows.filter(opened_at__lte=timezone.now() - timedelta(hours=int(age)))
    if request.GET.get("appeals") == "1":
        rows = rows.filter(appeal__state=Appeal.State.OPEN)
    return rows.order_by("-score", "opened_at", "pk")


@site.register_page(
    name="content_queue",
    route="content/queue/",
    permission=P.CONTENT_REVIEW,
    title=_("Review queue"),
    icon="fact_check",
)
def queue_page(request: HttpRequest) -> HttpResponseBase:
    """GET shows the queue and the item this reviewer holds; every step is a POST:
    start / next (claim the best item), approve, reject with a reason, undo."""
    actor = operator_of(request)
    if request.method == "POST":
        step = request.POST.get("step", "")
        held = request.POST.get("case", "")
        try:
            if step == "approve" and held.isdigit():
                moderation.decide(case_id=int(held), action="approve", actor=actor)
                moderation.claim_next(actor=actor, queryset=_queue_rows(request))
            elif step == "reject" and held.isdigit():
                moderation.decide(
                    case_id=int(held),
                    action="reject",
                    reason=request.POST.get("reason", ""),
                    actor=actor,
                    note=request.POST.get("note", ""),
                )
                moderation.claim_next(actor=actor, queryset=_queue_rows(request))
            elif step == "next":
                skip = int(held) if held.isdigit() else None
                if skip is not None:
                    moderation.release(case_id=skip, actor=actor)
                moderation.claim_next(actor=actor, queryset=_queue_rows(request), skip=skip)
            elif step == "undo":
                moderation.undo(actor=actor)
            elif step == "claim" and held.isdigit():
                moderation.claim(case_id=int(held), actor=actor)
            else:
                messages.error(request, gettext("Unknown step."))
        except DomainError as exc:
            messages.error(request, str(exc.message))
        return HttpResponseRedirect(request.get_full_path())
    now = timezone.now()
    mine = (
        ModerationCase.objects.filter(
            status=CaseStatus.OPEN, claimed_by=actor, claimed_until__gt=now
        )
        .order_by("-score", "opened_at")
        .first()
    )
    rows = _queue_rows(request)
    context = site.page_context(
        request,
        title=_("Review queue"),
        held=_case_context(mine) if mine else None,
        rows=list(rows[:50]),
        total=rows.count(),
        stats=selectors.queue_stats(),
        reasons=list(moderation.REASONS.items()),
        kinds=Kind.choices,
        filters=request.GET,
        now=now,
    )
    return TemplateResponse(request, "content/queue.html", context)


@site.register_page(
    name="content_figures",
    route="content/figures/",
    permission=P.CONTENT_VIEW,
    title=_("Reviewer figures"),
    icon="leaderboard",
)
def figures_page(request: HttpRequest) -> HttpResponseBase:
    context = site.page_context(
        request,
        title=_("Reviewer figures"),
        figures=selectors.reviewer_figures(days=7),
        stats=selectors.queue_stats(),
    )
    return TemplateResponse(request, "content/figures.html", context)


# --- the lexicon: test, import, export ----------------------------------------------------------
class LexiconImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"), help_text=_("term,category,action,note — UTF-8, one entry per row")
    )


@site.register_page(
    name="content_lexicon_test",
    route="content/lexicon/test/",
    permission=P.CONTENT_VIEW,
    title=_("Test a sentence"),
    icon="science",
)
def lexicon_test_page(request: HttpRequest) -> HttpResponseBase:
    """Which entries a text matches and why (read only, a GET form)."""
    text = request.GET.get("text", "")
    result = None
    error = None
    if text:
        try:
            result = lexicon.explain(text)
        except DomainError as exc:
            error = str(exc.message)
    context = site.page_context(
        request, title=_("Test a sentence"), text=text, result=result, error=error
    )
    return TemplateResponse(request, "content/lexicon_test.html", context)


@site.register_page(
    name="content_lexicon_import",
    route="content/lexicon/import/",
    permission=P.CONTENT_MANAGE,
    title=_("Import and export the lexicon"),
    icon="upload_file",
)
def lexicon_import_page(request: HttpRequest) -> HttpResponseBase:
    actor = operator_of(request)
    fmt = request.GET.get("export", "")
    if request.method == "GET" and fmt in exports.FORMATS:
        count = LexiconEntry.objects.count()
        return exports.export(
            name="lexicon",
            fmt=fmt,
            header=lexicon.CSV_HEADER,
            rows=lexicon.export_rows(),
            actor=actor,
            permission=P.CONTENT_MANAGE,
            model=LexiconEntry,
            description=gettext("Lexicon export (%d entries)") % count,
            additional={"rows": count},
        )
    form = LexiconImportForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        try:
            rows = lexicon.parse_csv(form.cleaned_data["file"].read())
            result = lexicon.import_rows(rows=rows, actor=actor)
        except DomainError as exc:
            for message in exc.fields.values() or [exc.message]:
                form.add_error(None, str(message))
    context = site.page_context(
        request,
        title=_("Import and export the lexicon"),
        form=form,
        result=result,
        entries=LexiconEntry.objects.count(),
        version=lexicon.version(),
    )
    response = TemplateResponse(request, "content/lexicon_import.html", context)
    return mark_invalid_post(request, response) if result is None else response


# --- model pages --------------------------------------------------------------------------------
def _flag_action(flag: str, label: Any, title: Any, icon: str) -> Any:
    @dialog_action(
        permission=P.CONTENT_MANAGE,
        description=label,
        title=title,
        url_path=flag,
        icon=icon,
    )
    def action(self: Any, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        kind = {Post: Kind.POST, Comment: Kind.COMMENT, Review: Kind.REVIEW}[self.model]
        self.run_service(
            request,
            lambda: moderation.set_flag(
                kind=kind, object_id=int(object_id), flag=flag, actor=operator_of(request)
            ),
            gettext("Done."),
        )
        opts = self.model._meta
        return redirect(
            request, reverse(f"console:{opts.app_label}_{opts.model_name}_change", args=[object_id])
        )

    action.__name__ = f"flag_{flag}"
    return action


class ItemAdmin(ReadOnlyConsoleAdmin):
    permissions = READ_ONLY
    list_display: tuple[str, ...] = (
        "id",
        "author",
        "excerpt",
        "status",
        "is_hidden",
        "likes_count",
        "created_at",
    )
    list_filter: tuple[str, ...] = ("status", "is_hidden")
    search_fields = ("text",)
    date_hierarchy = "created_at"
    actions_detail = ["flag_hide", "flag_unhide"]

    @admin.display(description=_("text"))
    def excerpt(self, obj: Any) -> str:
        return str(obj.text[:60])

    flag_hide = _flag_action("hide", _("Hide"), _("Hide this item from members?"), "visibility_off")
    flag_unhide = _flag_action("unhide", _("Show again"), _("Show this item again?"), "visibility")


@admin.register(Post, site=site)
class PostAdmin(ItemAdmin):
    list_display = (
        "id",
        "author",
        "excerpt",
        "status",
        "is_hidden",
        "is_pinned",
        "is_featured",
        "likes_count",
        "comments_count",
        "created_at",
    )
    list_filter = ("status", "is_hidden", "is_pinned", "is_featured", "topics")
    actions = ["hide_selected"]
    actions_detail = [
        "flag_hide",
        "flag_unhide",
        "flag_pin",
        "flag_unpin",
        "flag_feature",
        "flag_unfeature",
    ]
    flag_pin = _flag_action("pin", _("Pin"), _("Pin this post to the top of the feed?"), "push_pin")
    flag_unpin = _flag_action("unpin", _("Unpin"), _("Unpin this post?"), "push_pin")
    flag_feature = _flag_action("feature", _("Feature"), _("Feature this post?"), "star")
    flag_unfeature = _flag_action(
        "unfeature", _("Stop featuring"), _("Stop featuring this post?"), "star"
    )

    @bulk_action(
        permission=P.CONTENT_MANAGE,
        description=_("Hide the selected posts"),
        text=_("Members no longer see them; their review state is kept."),
    )
    def hide_selected(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        count = moderation.posts_flag(posts=list(queryset), flag="hide", actor=operator_of(request))
        messages.success(request, gettext("%d hidden.") % count)


@admin.register(Comment, site=site)
class CommentAdmin(ItemAdmin):
    pass


@admin.register(Review, site=site)
class ReviewAdmin(ItemAdmin):
    """Read only for every operator: nobody creates or edits a review in the
    console (no fake reviews)."""

    list_display = (
        "id",
        "author",
        "product",
        "rating",
        "excerpt",
        "status",
        "is_hidden",
        "created_at",
    )
    list_filter = ("status", "is_hidden", "rating", "anonymous")


@admin.register(Report, site=site)
class ReportAdmin(ReadOnlyConsoleAdmin):
    permissions = READ_ONLY
    list_display = ("id", "kind", "object_id", "reason", "member", "created_at")
    list_filter = ("kind", "reason")


class RejectForm(forms.Form):
    reason = forms.ChoiceField(label=_("Reason"), choices=())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["reason"]
        field.choices = [(k, str(v)) for k, v in moderation.REASONS.items()]


@admin.register(ModerationCase, site=site)
class CaseAdmin(ReadOnlyConsoleAdmin):
    permissions = READ_ONLY
    list_display = (
        "id",
        "kind",
        "object_id",
        "excerpt",
        "status",
        "score",
        "trigger",
        "reports_count",
        "opened_at",
        "decided_by",
    )
    list_filter = ("status", "kind", "trigger")
    search_fields = ("excerpt",)
    actions = ["approve_selected", "reject_selected"]

    @bulk_action(
        permission=P.CONTENT_REVIEW,
        description=_("Approve the selected items"),
        text=_("Each is published (or kept, when it was reported)."),
    )
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[ModerationCase]) -> None:
        count = moderation.decide_many(
            case_ids=list(queryset.values_list("pk", flat=True)),
            action="approve",
            actor=operator_of(request),
        )
        messages.success(request, gettext("%d approved.") % count)

    @bulk_action(
        permission=P.CONTENT_REVIEW,
        description=_("Reject the selected items"),
        text=_("Their authors see the reason and may appeal once."),
        form_class=RejectForm,
    )
    def reject_selected(
        self, request: HttpRequest, queryset: QuerySet[ModerationCase], form: RejectForm
    ) -> None:
        count = moderation.decide_many(
            case_ids=list(queryset.values_list("pk", flat=True)),
            action="reject",
            reason=form.cleaned_data["reason"],
            actor=operator_of(request),
        )
        messages.success(request, gettext("%d rejected.") % count)


@admin.register(Appeal, site=site)
class AppealAdmin(ReadOnlyConsoleAdmin):
    permissions = READ_ONLY
    list_display = ("id", "case", "member", "state", "first_reviewer", "decided_by", "created_at")
    list_filter = ("state",)


@admin.register(PlatformCheck, site=site)
class PlatformCheckAdmin(ReadOnlyConsoleAdmin):
    permissions = READ_ONLY
    list_display = (
        "key",
        "channel",
        "state",
        "verdict",
        "label",
        "reason",
        "requested_at",
        "answered_at",
    )
    list_filter = ("channel", "state", "verdict")


@admin.register(Topic, site=site)
class TopicAdmin(ConsoleModelAdmin):
    permissions = {
        "view": P.CONTENT_VIEW,
        "add": P.CONTENT_MANAGE,
        "change": P.CONTENT_MANAGE,
        "delete": None,
    }
    list_display = ("name", "is_active", "sort")
    fields = ("name", "description", "is_active", "sort")


@admin.register(LexiconEntry, site=site)
class LexiconAdmin(ConsoleModelAdmin):
    permissions = {
        "view": P.CONTENT_VIEW,
        "add": P.CONTENT_MANAGE,
        "change": P.CONTENT_MANAGE,
        "delete": P.CONTENT_MANAGE,
    }
    list_display = ("term", "category", "action", "is_active", "note", "created_at")
    list_filter = ("category", "action", "is_active")
    search_fields = ("term", "normalized")
    fields = ("term", "category", "action", "note", "is_active")

    def save_model(self, request: HttpRequest, obj: LexiconEntry, form: Any, change: bool) -> None:
        if change:
            lexicon.save_entry(entry=obj, actor=operator_of(request))
        else:
            created = lexicon.add_entry(
                term=obj.term,
                category=obj.category,
                action=obj.action,
                note=obj.note,
                actor=operator_of(request),
            )
            obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: LexiconEntry) -> None:
        lexicon.delete_entry(entry=obj, actor=operator_of(request))


# --- dashboard ------------------------------------------------------------------------------------
def _queue_widget(request: HttpRequest) -> dict[str, Any]:
    return {
        **selectors.queue_stats(),
        "can_review": operator_has(request, P.CONTENT_REVIEW),
    }


site.register_widget(
    DashboardWidget(
        "content_queue",
        _("Review queue"),
        P.CONTENT_VIEW,
        "content/widgets/queue.html",
        _queue_widget,
        order=60,
    )
)
