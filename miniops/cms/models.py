"""What the mini-program's home page shows: banners, articles and the home layout
(an ordered list of scheduled, optionally targeted sections)."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class LinkKind(models.TextChoices):
    NONE = "", _("No link")
    PRODUCT = "product", _("Product")
    CATEGORY = "category", _("Category")
    FLASH = "flash", _("Flash sale")
    GROUP_BUY = "group_buy", _("Group buy")
    COUPON = "coupon", _("Coupon")
    PAGE = "page", _("Mini-program page")
    ARTICLE = "article", _("Article")


class Scheduled(models.Model):
    """Shown from ``starts_at`` (inclusive) until ``ends_at`` (exclusive); an empty
    end is open. Off when ``is_active`` is false, whatever the dates."""

    starts_at = models.DateTimeField(_("shown from"), null=True, blank=True)
    ends_at = models.DateTimeField(_("shown until"), null=True, blank=True)
    is_active = models.BooleanField(_("on"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True

    def schedule_state(self, now: object = None) -> str:
        """off / scheduled / live / ended at ``now``."""
        at = now or timezone.now()
        if not self.is_active:
            return "off"
        if self.starts_at and at < self.starts_at:  # type: ignore[operator]
            return "scheduled"
        if self.ends_at and at >= self.ends_at:  # type: ignore[operator]
            return "ended"
        return "live"


class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")

    title = models.CharField(_("title"), max_length=80)
    summary = models.CharField(_("summary"), max_length=200, blank=True)
    cover = models.ImageField(_("cover image"), upload_to="cms/articles/", blank=True)
    #: sanitised by the service (nh3, the catalog's allow-list) before it is stored
    body = models.TextField(_("body"), blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT
    )
    published_at = models.DateTimeField(_("published"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        ordering = ["-published_at", "-id"]
        indexes = [models.Index(fields=["status", "-published_at"], name="cms_article_published")]

    def __str__(self) -> str:
        return self.title


class Banner(Scheduled):
    title = models.CharField(_("title"), max_length=60)
    image = models.ImageField(_("image"), upload_to="cms/banners/")
    link_kind = models.CharField(
        _("links to"), max_length=16, choices=LinkKind.choices, default=LinkKind.NONE, blank=True
    )
    #: the id of the product, category, flash sale, group buy, coupon or article, or
    #: the mini-program page's path
    link_ref = models.CharField(_("link target"), max_length=120, blank=True)
    sort = models.IntegerField(_("order"), default=0, help_text=_("Smaller comes first."))

    class Meta:
        verbose_name = _("banner")
        verbose_name_plural = _("banners")
        ordering = ["sort", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True)
                | Q(ends_at__isnull=True)
                | Q(starts_at__lt=F("ends_at")),
                name="cms_banner_starts_before_ends",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class SectionKind(models.TextChoices):
    BANNERS = "banners", _("Banners")
    FLASH_SALE = "flash_sale", _("Flash sale")
    GROUP_BUYS = "group_buys", _("Group buys")
    RECOMMENDED = "recommended", _("Recommended products")
    CATEGORY_GRID = "category_grid", _("Category grid")
    ARTICLES = "articles", _("Article list")


class HomeSection(Scheduled):
    """One block of the home page. The page shows the sections that are on, in
    their schedule and (when targeted) for the member, by ``position``."""

    kind = models.CharField(_("kind"), max_length=16, choices=SectionKind.choices)
    title = models.CharField(_("title"), max_length=40, blank=True)
    position = models.PositiveIntegerField(_("position"), default=0, editable=False)
    #: an audience key of ``miniops.core.audiences`` (``tag:vip``, ``segment:12``);
    #: empty for everyone, anonymous visitors included
    audience = models.CharField(_("audience"), max_length=100, blank=True)
    limit = models.PositiveSmallIntegerField(
        _("items"), default=8, help_text=_("How many items the section shows (1–50).")
    )

    class Meta:
        verbose_name = _("home section")
        verbose_name_plural = _("home layout")
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True)
                | Q(ends_at__isnull=True)
                | Q(starts_at__lt=F("ends_at")),
                name="cms_section_starts_before_ends",
            ),
            models.CheckConstraint(
                condition=Q(limit__gte=1) & Q(limit__lte=50), name="cms_section_limit_1_to_50"
            ),
        ]

    def __str__(self) -> str:
        return self.title or str(self.get_kind_display())


def _register_audit() -> None:
    from auditlog.registry import auditlog

    auditlog.register(Article, exclude_fields=["updated_at"])
    auditlog.register(Banner, exclude_fields=["updated_at"])
    auditlog.register(HomeSection, exclude_fields=["updated_at"])


_register_audit()
