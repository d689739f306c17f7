"""Every CMS write: banners, articles, the home layout. Each checks ``cms.manage``,
validates everything before writing, records its audit row, and bumps the CMS
version after commit so every process serves the change within seconds."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.catalog.html import sanitise
from miniops.cms import audience
from miniops.cms.models import Article, Banner, HomeSection, LinkKind, SectionKind
from miniops.cms.selectors import PAGES, VERSION_KEY
from miniops.core import audit, localcache, media
from miniops.core.errors import InvalidInput, NotFound
from miniops.core.permissions import P, require

#: Bodies above this are refused before sanitising (the sanitiser's work grows with it).
MAX_BODY_CHARS = 100_000
MAX_LIMIT = 50
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# --- shared ----------------------------------------------------------------------------
def _changed() -> None:
    """After commit: bump the version every cached CMS answer is keyed by."""

    def run() -> None:
        if not cache.add(VERSION_KEY, 2, timeout=None):
            try:
                cache.incr(VERSION_KEY)
            except ValueError:
                cache.set(VERSION_KEY, 2, timeout=None)
        localcache.forget("cms:")

    transaction.on_commit(run)


def cms_changed() -> None:
    """For writes that went around the services (the demo seeder)."""
    _changed()


def _text(value: Any, field: str, *, max_length: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(fields={field: _("Enter text.")})
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate
        raise InvalidInput(fields={field: _("The text contains invalid characters.")}) from exc
    if _CONTROL.search(value):
        raise InvalidInput(fields={field: _("The text contains control characters.")})
    value = value.strip()
    if required and not value:
        raise InvalidInput(fields={field: _("This field is required.")})
    if len(value) > max_length:
        raise InvalidInput(
            fields={field: _("At most %(n)d characters.") % {"n": max_length}},
        )
    return value


def _when(value: Any, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, datetime):
        raise InvalidInput(fields={field: _("Enter a date and time.")})
    if timezone.is_naive(value):
        raise InvalidInput(fields={field: _("Give the time with its time zone.")})
    if not 2000 <= value.year <= 2999:
        raise InvalidInput(fields={field: _("Enter a date between 2000 and 2999.")})
    return value


def _schedule(starts_at: Any, ends_at: Any) -> tuple[datetime | None, datetime | None]:
    start, end = _when(starts_at, "starts_at"), _when(ends_at, "ends_at")
    if start is not None and end is not None and start >= end:
        raise InvalidInput(fields={"ends_at": _("The end must come after the start.")})
    return start, end


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(fields={field: _("Answer yes or no.")})
    return value


def _int(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            fields={field: _("Enter a whole number from %(low)d to %(high)d.") % locals()}
        )
    return value


# --- links --------------------------------------------------------------------------------
def _link_models() -> dict[str, Any]:
    from miniops.catalog.models import Category, Product
    from miniops.marketing.models import CouponTemplate, FlashSession, GroupBuy

    return {
        LinkKind.PRODUCT: Product,
        LinkKind.CATEGORY: Category,
        LinkKind.FLASH: FlashSession,
        LinkKind.GROUP_BUY: GroupBuy,
        LinkKind.COUPON: CouponTemplate,
        LinkKind.ARTICLE: Article,
    }


def validate_link(kind: Any, ref: Any) -> tuple[str, str]:
    """The (kind, ref) a banner links to, checked: the product, category, flash sale,
    group buy, coupon or article exists; the page is one the mini-program has."""
    if kind is None:
        kind = ""
    if kind not in LinkKind.values:
        raise InvalidInput(fields={"link_kind": _("Pick what the banner links to.")})
    ref = _text(ref, "link_ref", max_length=120)
    if kind == LinkKind.NONE:
        if ref:
            raise InvalidInput(fields={"link_ref": _("A banner without a link has no target.")})
        return "", ""
    if not ref:
        raise InvalidInput(fields={"link_ref": _("Give the link's target.")})
    if kind == LinkKind.PAGE:
        if ref not in PAGES:
            raise InvalidInput(fields={"link_ref": _("The mini-program has no such page.")})
        return kind, ref
    if not ref.isascii() or not ref.isdigit() or not 0 < int(ref) < 2**63:
        raise InvalidInput(fields={"link_ref": _("Give the target's number (its id).")})
    model = _link_models()[kind]
    if not model.objects.filter(pk=int(ref)).exists():
        raise InvalidInput(
            fields={
                "link_ref": _("There is no %(kind)s #%(id)s.")
                % {"kind": model._meta.verbose_name, "id": ref}
            }
        )
    return kind, str(int(ref))


# --- banners ------------------------------------------------------------------------------
@transaction.atomic
def save_banner(
    *,
    actor: Any,
    banner: Banner | None = None,
    title: Any,
    image: Any = None,
    link_kind: Any = "",
    link_ref: Any = "",
    starts_at: Any = None,
    ends_at: Any = None,
    sort: Any = 0,
    is_active: Any = True,
) -> Banner:
    """Create or change a banner. ``image`` is an upload (file or bytes) to store
    through the media path (re-encoded); None keeps the current one."""
    require(actor, P.CMS_MANAGE)
    banner = banner or Banner()
    title = _text(title, "title", max_length=60, required=True)
    kind, ref = validate_link(link_kind, link_ref)
    start, end = _schedule(starts_at, ends_at)
    sort = _int(sort, "sort", -(10**6), 10**6)
    active = _flag(is_active, "is_active")
    if image is None and not banner.image:
        raise InvalidInput(fields={"image": _("A banner needs an image.")})
    stored = media.save_image(image, folder="cms/banners") if image is not None else None
    banner.title, banner.link_kind, banner.link_ref = title, kind, ref
    banner.starts_at, banner.ends_at, banner.sort, banner.is_active = start, end, sort, active
    if stored is not None:
        banner.image = stored
    with audit.acting_as(actor):
        banner.save()
    _changed()
    return banner


@transaction.atomic
def delete_banner(*, actor: Any, banner: Banner) -> None:
    require(actor, P.CMS_MANAGE)
    with audit.acting_as(actor):
        banner.delete()
    _changed()


# --- articles -----------------------------------------------------------------------------
def clean_body(body: Any) -> str:
    """The article body as stored: the allow-listed HTML subset (nh3, as product
    descriptions); an oversize body is refused rather than cut."""
    if body is None:
        body = ""
    if not isinstance(body, str):
        raise InvalidInput(fields={"body": _("Enter text.")})
    if len(body) > MAX_BODY_CHARS:
        raise InvalidInput(
            fields={"body": _("At most %(n)d characters of HTML.") % {"n": MAX_BODY_CHARS}}
        )
    try:
        body.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(fields={"body": _("The text contains invalid characters.")}) from exc
    if "\x00" in body:
        raise InvalidInput(fields={"body": _("The text contains control characters.")})
    return sanitise(body).strip()


@transaction.atomic
def save_article(
    *,
    actor: Any,
    article: Article | None = None,
    title: Any,
    summary: Any = "",
    body: Any = "",
    cover: Any = None,
    status: Any = Article.Status.DRAFT,
) -> Article:
    """Create or change an article; the body is sanitised before it is stored.
    Publishing stamps ``published_at`` the first time."""
    require(actor, P.CMS_MANAGE)
    article = article or Article()
    title = _text(title, "title", max_length=80, required=True)
    summary = _text(summary, "summary", max_length=200)
    body = clean_body(body)
    if status not in Article.Status.values:
        raise InvalidInput(fields={"status": _("Pick draft or published.")})
    if status == Article.Status.PUBLISHED and not body:
        raise InvalidInput(fields={"body": _("A published article needs a body.")})
    stored = None
    if cover is not None:
        stored = media.save_image(cover, folder="cms/articles") if cover else ""
    article.title, article.summary, article.body, article.status = title, summary, body, status
    if stored is not None:
        article.cover = stored
    if status == Article.Status.PUBLISHED and article.published_at is None:
        article.published_at = timezone.now()
    with audit.acting_as(actor):
        article.save()
    _changed()
    return article


@transaction.atomic
def delete_article(*, actor: Any, article: Article) -> None:
    require(actor, P.CMS_MANAGE)
    linked = Banner.objects.filter(link_kind=LinkKind.ARTICLE, link_ref=str(article.pk))
    if linked.exists():
        raise InvalidInput(
            _("Banners link to this article: change them first (%(names)s).")
            % {"names": ", ".join(b.title for b in linked[:5])}
        )
    with audit.acting_as(actor):
        article.delete()
    _changed()


# --- the home layout ------------------------------------------------------------------
@transaction.atomic
def save_section(
    *,
    actor: Any,
    section: HomeSection | None = None,
    kind: Any,
    title: Any = "",
    starts_at: Any = None,
    ends_at: Any = None,
    audience_key: Any = "",
    limit: Any = 8,
    is_active: Any = True,
) -> HomeSection:
    """Create or change a home section; a new one goes to the bottom of the page.
    ``audience_key`` must name an existing audience (``tag:vip``), or be empty for
    everyone."""
    require(actor, P.CMS_MANAGE)
    if kind not in SectionKind.values:
        raise InvalidInput(fields={"kind": _("Pick a kind of section.")})
    title = _text(title, "title", max_length=40)
    start, end = _schedule(starts_at, ends_at)
    if audience_key is not None and not isinstance(audience_key, str):
        raise InvalidInput(fields={"audience": _("Pick an audience from the list.")})
    key = audience.validate(audience_key or "")
    limit = _int(limit, "limit", 1, MAX_LIMIT)
    active = _flag(is_active, "is_active")
    if section is None:
        section = HomeSection()
        # Lock the layout (as moves do), then go below its last section.
        taken = (
            HomeSection.objects.select_for_update()
            .order_by("pk")
            .values_list("position", flat=True)
        )
        section.position = max(taken, default=0) + 1
    section.kind, section.title, section.audience, section.limit = kind, title, key, limit
    section.starts_at, section.ends_at, section.is_active = start, end, active
    with audit.acting_as(actor):
        section.save()
    _changed()
    return section


@transaction.atomic
def delete_section(*, actor: Any, section: HomeSection) -> None:
    require(actor, P.CMS_MANAGE)
    with audit.acting_as(actor):
        section.delete()
    _changed()


def _locked_layout() -> list[HomeSection]:
    """Every section, locked, in page order. Rows are locked in id order, which no
    write changes, so two editors never lock them in opposite orders (deadlock)."""
    rows = list(HomeSection.objects.select_for_update().order_by("pk"))
    return sorted(rows, key=lambda s: (s.position, s.pk))


def _renumber(ordered: list[HomeSection], actor: Any) -> None:
    with audit.acting_as(actor):
        for position, section in enumerate(ordered, start=1):
            if section.position != position:
                section.position = position
                section.save(update_fields=["position", "updated_at"])


@transaction.atomic
def move_section(*, actor: Any, section: HomeSection, direction: str) -> HomeSection:
    """Swap the section with its neighbour above ("up") or below ("down"). At the
    top (or bottom) already, nothing changes."""
    require(actor, P.CMS_MANAGE)
    if direction not in ("up", "down"):
        raise InvalidInput(fields={"direction": _("Move up or down.")})
    ordered = _locked_layout()
    index = next((i for i, s in enumerate(ordered) if s.pk == section.pk), None)
    if index is None:
        raise NotFound()
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(ordered):
        ordered[index], ordered[other] = ordered[other], ordered[index]
        _renumber(ordered, actor)
        _changed()
    return next(s for s in ordered if s.pk == section.pk)


@transaction.atomic
def reorder_sections(*, actor: Any, ids: Any) -> list[HomeSection]:
    """Put the sections in the order of ``ids`` (a drag and drop): every section
    exactly once, or nothing changes."""
    require(actor, P.CMS_MANAGE)
    if not isinstance(ids, list | tuple) or any(
        isinstance(i, bool) or not isinstance(i, int) for i in ids
    ):
        raise InvalidInput(fields={"ids": _("Give every section once, in the new order.")})
    by_id = {s.pk: s for s in _locked_layout()}
    if len(ids) != len(set(ids)) or set(ids) != set(by_id):
        raise InvalidInput(fields={"ids": _("Give every section once, in the new order.")})
    ordered = [by_id[i] for i in ids]
    _renumber(ordered, actor)
    _changed()
    return ordered
