"""Console actions in a real browser: a campaign is stopped only from its
confirmation dialog, personal data is revealed inside the dialog, and a bulk
action asks on a page of its own before it runs."""

from __future__ import annotations

from typing import Any

import pytest

from miniops.catalog.models import Product, ProductStatus
from miniops.marketing.models import CouponTemplate
from miniops.testing import factories
from miniops.testing.factories import TEST_PASSWORD

from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page: Any, live_server: Any, username: str) -> None:
    page.goto(f"{live_server.url}/console/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/console/")


def test_stopping_a_coupon_campaign_takes_the_dialog(page: Any, live_server: Any) -> None:
    # given an operations manager and a running coupon campaign
    factories.operator_with_role("ops_manager", username="opsmanager2")
    template = factories.coupon_template(name="双十二满减")
    sign_in(page, live_server, "opsmanager2")
    # when the "Stop now" address is opened directly (as a link from elsewhere would)
    page.goto(f"{live_server.url}/console/marketing/coupontemplate/{template.pk}/end/")
    # then only the confirmation is shown, and the campaign still runs
    assert page.locator("#dialog form[method=post]").count() == 1
    assert CouponTemplate.objects.get(pk=template.pk).is_active
    # when they press "Stop now" on the campaign's page and confirm in the dialog
    page.goto(f"{live_server.url}/console/marketing/coupontemplate/{template.pk}/change/")
    page.click("a[href$='/end/']")
    page.wait_for_selector("#dialog button[type=submit]")
    screenshot(page, "30-stop-coupon-dialog")
    assert CouponTemplate.objects.get(pk=template.pk).is_active
    with page.expect_navigation():
        page.click("#dialog button[type=submit]")
    # then it is stopped
    assert not CouponTemplate.objects.get(pk=template.pk).is_active
    assert page.outside_requests == []


def test_customer_service_reveals_a_phone_number_inside_the_dialog(
    page: Any, live_server: Any
) -> None:
    factories.operator_with_role("customer_service", username="service2")
    person = factories.member(phone="13912345678", nickname="小赵")
    sign_in(page, live_server, "service2")
    page.goto(f"{live_server.url}/console/members/member/{person.pk}/change/")
    assert "13912345678" not in page.content()
    page.click("a[href$='/reveal/']")
    page.wait_for_selector("#dialog button[type=submit]")
    assert "13912345678" not in page.content()
    page.click("#dialog button[type=submit]")
    page.wait_for_selector("#revealed")
    screenshot(page, "31-revealed-in-dialog")
    assert "13912345678" in page.locator("#dialog").inner_text()


def test_putting_selected_products_on_sale_asks_first(page: Any, live_server: Any) -> None:
    factories.operator_with_role("ops_staff", username="opsstaff3")
    drafts = [factories.product(status=ProductStatus.DRAFT, title=f"草稿{i}") for i in range(2)]
    sign_in(page, live_server, "opsstaff3")
    page.goto(f"{live_server.url}/console/catalog/product/")
    for product in drafts:
        page.check(f"input[name=_selected_action][value='{product.pk}']")
    page.select_option("select[name=action]", "list_selected")
    with page.expect_navigation():
        page.click("button[name=index]")
    # a page naming both, and nothing listed yet
    page.wait_for_selector("#bulk-confirm")
    screenshot(page, "32-bulk-confirm")
    assert all(p.title in page.content() for p in drafts)
    assert not Product.objects.filter(status=ProductStatus.ON_SALE).exists()
    # (the factory's products have no image and weigh 0 g: the page asks for a tick)
    page.check("#bulk-confirm input[name=anyway]")
    with page.expect_navigation():
        page.click("#bulk-confirm button[type=submit]")
    assert Product.objects.filter(status=ProductStatus.ON_SALE).count() == 2
