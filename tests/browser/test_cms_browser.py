"""The CMS in a real browser: an operator reorders the home page with the row
actions' confirmation dialogs, schedules a banner for tomorrow, and sees it in the
home preview at that time (and not now)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from miniops.cms.models import Banner, HomeSection
from miniops.cms.tests import factories as cms
from miniops.testing import factories
from miniops.testing.factories import TEST_PASSWORD

from .conftest import ARTIFACTS, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page: Any, live_server: Any, username: str) -> None:
    page.goto(f"{live_server.url}/console/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/console/")


def order() -> list[str]:
    return list(HomeSection.objects.order_by("position").values_list("title", flat=True))


def test_an_operator_reorders_the_home_and_previews_a_scheduled_banner(
    page: Any, live_server: Any
) -> None:
    # given a home page of three sections
    factories.operator_with_role("ops_manager", username="cmsmanager")
    cms.home_section(kind="banners", title="轮播")
    cms.home_section(kind="articles", title="精选文章")
    grid = cms.home_section(kind="category_grid", title="分类宫格")
    sign_in(page, live_server, "cmsmanager")
    # when the operator moves the category grid up, confirming in the dialog
    page.goto(f"{live_server.url}/console/cms/homesection/")
    row = page.locator("#result_list tbody tr", has_text="分类宫格")
    row.locator("td.field-actions_holder span.material-symbols-outlined").click()  # its menu
    page.locator(f"a[href$='/homesection/{grid.pk}/move-up/']:visible").click()
    page.wait_for_selector("#dialog button[type=submit]")
    screenshot(page, "60-cms-move-up-dialog")
    assert order() == ["轮播", "精选文章", "分类宫格"]  # not before the confirmation
    with page.expect_navigation():
        page.click("#dialog button[type=submit]")
    # then the grid is second
    assert order() == ["轮播", "分类宫格", "精选文章"]
    screenshot(page, "61-cms-layout-reordered")
    # when they add a banner shown from tomorrow 09:00
    tomorrow = (timezone.localtime() + timedelta(days=1)).date()
    image = ARTIFACTS / "cms-banner.png"
    ARTIFACTS.mkdir(exist_ok=True)
    image.write_bytes(cms.png("#07c160", (750, 320)))
    page.goto(f"{live_server.url}/console/cms/banner/add/")
    page.fill("#id_title", "明日上新")
    page.set_input_files("#id_image", str(image))
    page.select_option("#id_link_kind", "page")
    page.fill("#id_link_ref", "/pages/coupons/index")
    page.fill("#id_starts_at_0", tomorrow.isoformat())
    page.fill("#id_starts_at_1", "09:00:00")
    with page.expect_navigation():
        page.click("button[name=_save]")
    banner = Banner.objects.get(title="明日上新")
    assert banner.starts_at is not None
    assert banner.schedule_state() == "scheduled"
    # then the preview does not show it now, and shows it tomorrow at 09:30, in order
    page.goto(f"{live_server.url}/console/cms/preview/")
    assert "明日上新" not in page.locator("#cms-preview").inner_text()
    page.fill("input[name=at]", f"{tomorrow.isoformat()} 09:30")
    with page.expect_navigation():
        page.click("#cms-preview-form button[type=submit]")
    preview = page.locator("#cms-preview")
    assert "明日上新" in preview.inner_text()
    kinds = [s.get_attribute("data-kind") for s in preview.locator("section").all()]
    assert kinds == ["banners", "category_grid", "articles"]
    screenshot(page, "62-cms-preview-tomorrow")
    assert page.outside_requests == []


def test_an_operator_reorders_the_home_by_drag_and_drop_and_by_keyboard(
    page: Any, live_server: Any
) -> None:
    from auditlog.models import LogEntry

    # given a home page of three sections
    operator = factories.operator_with_role("ops_manager", username="cmsdragger")
    cms.home_section(kind="banners", title="轮播")
    articles = cms.home_section(kind="articles", title="精选文章")
    cms.home_section(kind="category_grid", title="分类宫格")
    sign_in(page, live_server, "cmsdragger")
    page.goto(f"{live_server.url}/console/cms/homesection/")
    status = page.locator("#cms-reorder-status")

    def row(title: str) -> Any:
        return page.locator("#result_list tbody tr", has_text=title)

    # when the operator drags the category grid's handle onto the top of the list
    row("分类宫格").locator(".cms-drag-handle").drag_to(
        row("轮播"), target_position={"x": 30, "y": 3}
    )
    # then the new order is saved at once, and said so
    status.filter(has_text="已保存").wait_for()
    assert order() == ["分类宫格", "轮播", "精选文章"]
    screenshot(page, "63-cms-layout-dragged")
    # when they focus the articles' handle and press the up arrow key
    page.evaluate("document.getElementById('cms-reorder-status').textContent = ''")
    handle = row("精选文章").locator(".cms-drag-handle")
    handle.focus()
    page.keyboard.press("ArrowUp")
    status.filter(has_text="已保存").wait_for()
    # then the articles went up one place, and the handle keeps the focus
    assert order() == ["分类宫格", "精选文章", "轮播"]
    assert handle.evaluate("el => el === document.activeElement")
    # and after a reload the list shows the saved order
    page.reload()
    titles = [
        t.strip()
        for t in page.locator(
            "#result_list tbody td.field-section, #result_list tbody th.field-section"
        ).all_inner_texts()
    ]
    assert titles == ["分类宫格", "精选文章", "轮播"]
    screenshot(page, "64-cms-layout-keyboard")
    # every move was audited as the operator
    moved = LogEntry.objects.get_for_object(articles).filter(action=LogEntry.Action.UPDATE)
    assert moved.exists()
    assert all(r.actor_id == operator.pk for r in moved)
    assert page.outside_requests == []
