"""The CMS console: banners with uploads and checked links, articles with a
sanitised preview, the home layout reordered by POSTed dialog actions, and the
home preview as a member or anonymous."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from miniops.cms.models import Article, Banner, HomeSection
from miniops.cms.tests import factories as cms
from miniops.testing import factories

pytestmark = pytest.mark.django_db
ConsoleAs = Callable[..., Client]
BASE = "/console/cms"
CONFIRM = {"_form_submitted": "on"}


def signed_in(console_as: ConsoleAs, role: str) -> Client:
    client = console_as(role)
    client.raise_request_exception = False
    return client


def banner_form(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "双十二",
        "image": SimpleUploadedFile("b.png", cms.png(), content_type="image/png"),
        "link_kind": "page",
        "link_ref": "/pages/coupons/index",
        "starts_at_0": "",
        "starts_at_1": "",
        "ends_at_0": "",
        "ends_at_1": "",
        "sort": "0",
        "is_active": "on",
    }
    data.update(fields)
    return data


def test_an_operator_adds_a_banner_with_an_image_and_a_checked_link(
    console_as: ConsoleAs,
) -> None:
    client = signed_in(console_as, "ops_manager")
    response = client.post(f"{BASE}/banner/add/", banner_form())
    assert response.status_code == 302, response.content[:500]
    banner = Banner.objects.get()
    assert banner.image.name.startswith("cms/banners/")
    assert banner.link_ref == "/pages/coupons/index"
    assert client.get(f"{BASE}/banner/").status_code == 200


@pytest.mark.parametrize(
    "fields",
    [
        {"link_kind": "product", "link_ref": "999999"},
        {"link_kind": "page", "link_ref": "/pages/nowhere"},
        {"link_kind": "article", "link_ref": "abc"},
        {
            "starts_at_0": "2026-12-02",
            "starts_at_1": "10:00",
            "ends_at_0": "2026-12-01",
            "ends_at_1": "10:00",
        },
        {"starts_at_0": "2026-13-45", "starts_at_1": "25:00"},
        {"image": SimpleUploadedFile("b.png", b"GIF89a not really", content_type="image/png")},
        {"title": ""},
    ],
)
def test_a_bad_banner_form_is_shown_again_and_saves_nothing(
    console_as: ConsoleAs, fields: dict[str, Any]
) -> None:
    response = signed_in(console_as, "ops_manager").post(
        f"{BASE}/banner/add/", banner_form(**fields)
    )
    assert response.status_code == 400, response.status_code
    assert not Banner.objects.exists()


def test_the_article_page_previews_the_sanitised_body(console_as: ConsoleAs) -> None:
    client = signed_in(console_as, "ops_manager")
    response = client.post(
        f"{BASE}/article/add/",
        {
            "title": "上新",
            "summary": "",
            "body": '<h2>春装</h2><p onmouseover="x()">好看<script>alert(1)</script></p>',
            "status": "published",
        },
    )
    assert response.status_code == 302, response.content[:500]
    article = Article.objects.get()
    assert "script" not in article.body
    assert "onmouseover" not in article.body
    page = client.get(f"{BASE}/article/{article.pk}/change/").content.decode()
    assert 'class="cms-article-preview' in page
    assert "<h2>春装</h2>" in page
    assert "alert(1)</script>" not in page
    oversize = client.post(
        f"{BASE}/article/add/", {"title": "x", "body": "a" * 100_001, "status": "draft"}
    )
    assert oversize.status_code == 400
    assert Article.objects.count() == 1


def test_sections_move_only_on_the_confirmed_post(console_as: ConsoleAs) -> None:
    first = cms.home_section(kind="banners")
    second = cms.home_section(kind="articles")
    client = signed_in(console_as, "ops_manager")
    listing = client.get(f"{BASE}/homesection/").content.decode()
    assert "move-up" in listing
    assert 'id="cms-preview-link"' in listing
    url = f"{BASE}/homesection/{second.pk}/move-up/"
    assert client.get(url).status_code == 200  # the dialog only
    assert list(HomeSection.objects.values_list("pk", flat=True)) == [first.pk, second.pk]
    assert client.post(url, CONFIRM).status_code in (204, 302)
    assert list(HomeSection.objects.values_list("pk", flat=True)) == [second.pk, first.pk]
    analyst = signed_in(console_as, "analyst")
    assert analyst.post(f"{BASE}/homesection/{first.pk}/move-up/", CONFIRM).status_code == 403
    assert list(HomeSection.objects.values_list("pk", flat=True)) == [second.pk, first.pk]


def test_a_section_with_an_audience_and_a_schedule_is_saved(console_as: ConsoleAs) -> None:
    factories.member_tag("vip")
    client = signed_in(console_as, "ops_manager")
    form = client.get(f"{BASE}/homesection/add/").content.decode()
    assert 'value="tag:vip"' in form
    data = {
        "kind": "articles",
        "title": "会员专享",
        "limit": "5",
        "starts_at_0": "2026-12-01",
        "starts_at_1": "08:00:00",
        "ends_at_0": "2026-12-31",
        "ends_at_1": "08:00:00",
        "audience": "tag:vip",
        "is_active": "on",
    }
    assert client.post(f"{BASE}/homesection/add/", data).status_code == 302
    section = HomeSection.objects.get()
    assert section.audience == "tag:vip"
    assert section.starts_at < section.ends_at
    refused = client.post(f"{BASE}/homesection/add/", {**data, "audience": "tag:nobody"})
    assert refused.status_code == 400
    backwards = client.post(f"{BASE}/homesection/add/", {**data, "ends_at_0": "2026-11-01"})
    assert backwards.status_code == 400
    assert HomeSection.objects.count() == 1


def test_the_preview_shows_the_home_as_a_member_or_anonymous(console_as: ConsoleAs) -> None:
    tag = factories.member_tag("vip")
    insider = factories.member()
    insider.tags.add(tag)
    later = timezone.now() + timedelta(days=3)
    cms.banner(title="现在")
    cms.banner(title="三天后", starts_at=later)
    cms.home_section(kind="banners", title="首焦")
    cms.home_section(kind="articles", title="会员专享", audience_key="tag:vip")
    client = signed_in(console_as, "analyst")  # a read: the Analyst may look
    anonymous = client.get("/console/cms/preview/").content.decode()
    assert "首焦" in anonymous
    assert "会员专享" not in anonymous
    assert "三天后" not in anonymous
    as_member = client.get("/console/cms/preview/", {"member": insider.pk}).content.decode()
    assert "会员专享" in as_member
    at = (later + timedelta(minutes=1)).astimezone(timezone.get_current_timezone())
    future = client.get("/console/cms/preview/", {"at": at.strftime("%Y-%m-%d %H:%M")})
    assert "三天后" in future.content.decode()
    for bad in ({"member": "abc"}, {"member": "999999"}, {"at": "tomorrow"}, {"member": "9" * 30}):
        assert client.get("/console/cms/preview/", bad).status_code == 400, bad


def test_the_layout_is_reordered_by_one_post_of_every_section(console_as: ConsoleAs) -> None:
    """The drag-and-drop endpoint: POST only, CSRF-checked by the console,
    ``cms.manage`` only, every section once or nothing changes (the shared error
    shape), and the answer gives the new positions."""
    a, b, c = (cms.home_section(kind="banners", title=t) for t in ("a", "b", "c"))
    url = "/console/cms/homesection/reorder/"

    def titles() -> list[str]:
        return list(HomeSection.objects.order_by("position").values_list("title", flat=True))

    manager = signed_in(console_as, "ops_manager")
    assert manager.get(url).status_code == 405
    for bad in ([a.pk, b.pk], [a.pk, a.pk, b.pk], [a.pk, b.pk, "x"], [a.pk, b.pk, 999999], []):
        response = manager.post(url, {"ids": bad})
        assert response.status_code == 400, bad
        assert response.json()["error"]["fields"]["ids"]
    assert titles() == ["a", "b", "c"]
    analyst = signed_in(console_as, "analyst")
    assert analyst.post(url, {"ids": [c.pk, b.pk, a.pk]}).status_code == 403
    assert titles() == ["a", "b", "c"]
    response = manager.post(url, {"ids": [c.pk, a.pk, b.pk]})
    assert response.status_code == 200
    assert response.json()["sections"] == [
        {"id": c.pk, "position": 1},
        {"id": a.pk, "position": 2},
        {"id": b.pk, "position": 3},
    ]
    assert titles() == ["c", "a", "b"]
    # and the list page carries the handle script only for those who may reorder
    assert b"cms/reorder.js" in manager.get("/console/cms/homesection/").content
    assert b"cms/reorder.js" not in analyst.get("/console/cms/homesection/").content
