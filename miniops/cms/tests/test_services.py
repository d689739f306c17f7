"""CMS writes: bad input refused with nothing written, links that must exist,
schedules, sanitised HTML, audiences, ordering, permissions and audit rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.utils import timezone

from miniops.cms import services
from miniops.cms.models import Article, Banner, HomeSection
from miniops.cms.tests import factories as cms
from miniops.core.errors import Forbidden, InvalidInput
from miniops.testing import factories

pytestmark = pytest.mark.django_db


def refused(call: Any, field: str | None = None) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call()
    if field is not None:
        assert field in caught.value.fields, caught.value.fields
    return caught.value


# --- banners and their links --------------------------------------------------------------
def test_a_banner_links_to_each_kind_of_target_that_exists() -> None:
    product = factories.product()
    targets = {
        "product": str(product.pk),
        "category": str(product.category_id),
        "flash": str(factories.flash_session().pk),
        "group_buy": str(factories.group_buy().pk),
        "coupon": str(factories.coupon_template().pk),
        "article": str(cms.article().pk),
        "page": "/pages/coupons/index",
    }
    for kind, ref in targets.items():
        banner = cms.banner(link_kind=kind, link_ref=ref)
        assert (banner.link_kind, banner.link_ref) == (kind, ref)
    assert Banner.objects.count() == len(targets)


@pytest.mark.parametrize(
    ("kind", "ref"),
    [
        ("product", "999999"),
        ("category", "999999"),
        ("flash", "999999"),
        ("group_buy", "999999"),
        ("coupon", "999999"),
        ("article", "999999"),
        ("page", "/pages/nowhere/index"),
        ("product", "abc"),
        ("product", "-1"),
        ("product", "1" * 30),
        ("product", "１２"),  # full-width digits are not an id
        ("product", ""),
        ("", "12"),
        ("shop", "1"),
        (None, "1"),
    ],
)
def test_unknown_link_targets_are_refused_and_nothing_is_written(kind: Any, ref: Any) -> None:
    refused(lambda: cms.banner(link_kind=kind, link_ref=ref))
    assert not Banner.objects.exists()


def test_banner_bad_text_and_missing_image_are_refused() -> None:
    refused(lambda: cms.banner(title=""), "title")
    refused(lambda: cms.banner(title="x" * 61), "title")
    refused(lambda: cms.banner(title="a\x00b"), "title")
    refused(lambda: cms.banner(title="a\ud800b"), "title")
    refused(lambda: cms.banner(title=12), "title")
    refused(lambda: cms.banner(image=None), "image")
    refused(lambda: cms.banner(image=b"not an image"), "image")
    refused(lambda: cms.banner(sort="1"), "sort")
    refused(lambda: cms.banner(is_active="yes"), "is_active")
    assert not Banner.objects.exists()


# --- schedules --------------------------------------------------------------------------
def test_bad_dates_and_start_after_end_are_refused() -> None:
    now = timezone.now()
    for starts_at, ends_at, field in [
        (now, now, "ends_at"),
        (now + timedelta(hours=1), now, "ends_at"),
        ("2026-01-01", None, "starts_at"),
        (datetime(2026, 1, 1, 8, 0), None, "starts_at"),  # naive
        (None, now.replace(year=1970), "ends_at"),
        (None, 1735689600, "ends_at"),
    ]:
        refused(lambda s=starts_at, e=ends_at: cms.banner(starts_at=s, ends_at=e), field)
        refused(lambda s=starts_at, e=ends_at: cms.home_section(starts_at=s, ends_at=e), field)
    assert not Banner.objects.exists()
    assert not HomeSection.objects.exists()


def test_schedule_state_follows_the_boundaries() -> None:
    now = timezone.now()
    banner = cms.banner(starts_at=now, ends_at=now + timedelta(hours=1))
    assert banner.schedule_state(now - timedelta(microseconds=1)) == "scheduled"
    assert banner.schedule_state(now) == "live"
    assert banner.schedule_state(now + timedelta(hours=1) - timedelta(microseconds=1)) == "live"
    assert banner.schedule_state(now + timedelta(hours=1)) == "ended"


# --- articles ---------------------------------------------------------------------------
def test_unsafe_html_is_sanitised_before_it_is_stored() -> None:
    body = (
        '<p onclick="steal()">Hi<script>alert(1)</script></p>'
        '<img src="x" onerror="alert(2)"><a href="javascript:alert(3)">x</a>'
        '<style>body{display:none}</style><iframe src="https://evil"></iframe>'
        '<a href="https://shop.example/p">ok</a>'
    )
    article = cms.article(body=body)
    stored = Article.objects.get(pk=article.pk).body
    for bad in ("script", "onclick", "onerror", "javascript:", "<style", "iframe", "alert(1)"):
        assert bad not in stored, bad
    assert 'href="https://shop.example/p"' in stored
    assert "<p>Hi</p>" in stored


def test_oversize_or_broken_bodies_are_refused() -> None:
    refused(lambda: cms.article(body="<p>" + "长" * services.MAX_BODY_CHARS + "</p>"), "body")
    refused(lambda: cms.article(body="a\x00b"), "body")
    refused(lambda: cms.article(body="a\udfffb"), "body")
    refused(lambda: cms.article(body=["<p>"]), "body")
    refused(lambda: cms.article(body="<script>only()</script>", status="published"), "body")
    refused(lambda: cms.article(status="live"), "status")
    refused(lambda: cms.article(title="x" * 81), "title")
    assert not Article.objects.exists()


def test_publishing_stamps_the_time_once() -> None:
    article = cms.article(status="draft")
    assert article.published_at is None
    first = services.save_article(
        actor=cms.manager(), article=article, title="t", body="<p>b</p>", status="published"
    ).published_at
    again = services.save_article(
        actor=cms.manager(), article=article, title="t2", body="<p>b</p>", status="published"
    ).published_at
    assert first is not None
    assert first == again


def test_an_article_a_banner_links_to_cannot_be_deleted() -> None:
    article = cms.article()
    cms.banner(link_kind="article", link_ref=str(article.pk))
    refused(lambda: services.delete_article(actor=cms.manager(), article=article))
    assert Article.objects.filter(pk=article.pk).exists()


# --- sections, audiences, order -----------------------------------------------------------
def test_sections_take_existing_audiences_only() -> None:
    factories.member_tag("vip")
    assert cms.home_section(audience_key="tag:vip").audience == "tag:vip"
    assert cms.home_section(audience_key="").audience == ""
    for bad in ("tag:nobody", "segment:999999", "planet:mars", "vip", "tag:", "x" * 101, 5):
        refused(lambda b=bad: cms.home_section(audience_key=b), "audience")
    assert HomeSection.objects.count() == 2


def test_section_kind_and_limit_are_checked() -> None:
    refused(lambda: cms.home_section(kind="carousel"), "kind")
    for bad in (0, 51, "8", 2.5, True):
        refused(lambda b=bad: cms.home_section(limit=b), "limit")
    assert not HomeSection.objects.exists()


def test_new_sections_go_last_and_move_up_and_down() -> None:
    a, b, c = (cms.home_section(kind=k) for k in ("banners", "flash_sale", "articles"))
    order = lambda: list(HomeSection.objects.order_by("position").values_list("kind", flat=True))  # noqa: E731
    assert order() == ["banners", "flash_sale", "articles"]
    services.move_section(actor=cms.manager(), section=c, direction="up")
    assert order() == ["banners", "articles", "flash_sale"]
    services.move_section(actor=cms.manager(), section=a, direction="up")  # already on top
    services.move_section(actor=cms.manager(), section=a, direction="down")
    assert order() == ["articles", "banners", "flash_sale"]
    refused(lambda: services.move_section(actor=cms.manager(), section=b, direction="left"))
    services.reorder_sections(actor=cms.manager(), ids=[b.pk, a.pk, c.pk])
    assert order() == ["flash_sale", "banners", "articles"]
    for bad in (
        [b.pk, a.pk],
        [b.pk, a.pk, a.pk],
        [b.pk, a.pk, c.pk, 999],
        "1,2,3",
        [True, a.pk, c.pk],
    ):
        refused(lambda x=bad: services.reorder_sections(actor=cms.manager(), ids=x), "ids")
    assert order() == ["flash_sale", "banners", "articles"]


# --- permissions and audit ------------------------------------------------------------------
def test_services_check_the_permission_themselves() -> None:
    analyst = factories.operator_with_role("analyst")
    section = cms.home_section()
    calls = [
        lambda: services.save_banner(actor=analyst, title="x", image=cms.png()),
        lambda: services.save_article(actor=analyst, title="x"),
        lambda: services.save_section(actor=analyst, kind="banners"),
        lambda: services.move_section(actor=analyst, section=section, direction="up"),
        lambda: services.reorder_sections(actor=analyst, ids=[section.pk]),
        lambda: services.delete_section(actor=analyst, section=section),
        lambda: services.save_banner(actor=factories.member(), title="x", image=cms.png()),
        lambda: services.save_section(actor=None, kind="banners"),
    ]
    for call in calls:
        with pytest.raises(Forbidden):
            call()
    assert not Banner.objects.exists()
    assert not Article.objects.exists()
    assert HomeSection.objects.count() == 1


def test_every_write_leaves_an_audit_row_with_its_actor() -> None:
    actor = cms.manager()
    banner = services.save_banner(actor=actor, title="b", image=cms.png())
    article = services.save_article(actor=actor, title="a", body="<p>x</p>")
    one = services.save_section(actor=actor, kind="banners")
    two = services.save_section(actor=actor, kind="articles")
    services.move_section(actor=actor, section=two, direction="up")
    banner_pk = banner.pk
    services.delete_banner(actor=actor, banner=banner)
    for obj, actions in ((article, 1), (one, 2), (two, 2)):
        rows = LogEntry.objects.get_for_object(obj)
        assert rows.count() >= actions
        assert all(r.actor_id == actor.pk for r in rows)
    deleted = LogEntry.objects.filter(
        content_type__model="banner", object_pk=str(banner_pk), action=LogEntry.Action.DELETE
    )
    assert deleted.get().actor_id == actor.pk
