"""Everyday tasks from the console home, in a real browser, within their click
budgets (issue 11 §1), in Chinese and in English.

Every click, selection and tick on the way is counted by ``Clicks``; typing is not
a click. Screenshots land in ``test-artifacts/`` (``task-<name>-<language>``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from miniops.marketing.models import Coupon, CouponTemplate
from miniops.testing import factories
from miniops.testing.factories import TEST_PASSWORD

from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LANGUAGES = {"zh-hans": "zh-CN", "en": "en-US"}
#: What each flow took, reported by the test run (``-s``) and in the issue's note.
COUNTS: dict[str, int] = {}


class Clicks:
    """A page whose clicks are counted."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.count = 0

    def click(self, selector: str, *, navigates: bool = True) -> None:
        self.count += 1
        if navigates:
            with self.page.expect_navigation():
                self.page.click(selector)
        else:
            self.page.click(selector)

    def select(self, selector: str, value: str) -> None:
        self.count += 1
        self.page.select_option(selector, value)


@pytest.fixture(params=list(LANGUAGES))
def lang_page(request: Any, browser: Any, live_server: Any) -> Iterator[tuple[str, Any]]:
    language = request.param
    context = browser.new_context(
        locale=LANGUAGES[language], viewport={"width": 1400, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield language, page
    context.close()


def _home(page: Any, live_server: Any, username: str) -> None:
    page.goto(f"{live_server.url}/console/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    with page.expect_navigation():
        page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/console/")


def test_send_a_coupon_to_a_tag_in_at_most_five_clicks(
    lang_page: tuple[str, Any], live_server: Any
) -> None:
    language, page = lang_page
    # given an operations manager, a coupon with 100 left and a tag of three members
    factories.operator_with_role("ops_manager", username=f"mgr-{language}")
    template = factories.coupon_template(
        name="会员日券", issue=CouponTemplate.Issue.ISSUED, total_quantity=100
    )
    tag = factories.member_tag("会员日")
    members = [factories.member() for _ in range(3)]
    for member in members:
        member.tags.add(tag)
    _home(page, live_server, f"mgr-{language}")
    clicks = Clicks(page)
    # when, from the home page: Coupons → the coupon → Issue → pick the tag → Issue
    clicks.click("a[href='/console/marketing/coupontemplate/']")
    clicks.click(f"a[href='/console/marketing/coupontemplate/{template.pk}/change/']")
    clicks.click(f"a[href$='/coupontemplate/{template.pk}/issue/']", navigates=False)
    page.wait_for_selector("#dialog select[name=audience]")
    # the picker shows each tag with its member count
    option = page.locator("#dialog select[name=audience] option[value='tag:会员日']")
    assert "3" in option.inner_text()
    clicks.select("#dialog select[name=audience]", "tag:会员日")
    screenshot(page, f"task-coupon-to-tag-dialog-{language}")
    clicks.click("#dialog button[type=submit]")
    screenshot(page, f"task-coupon-to-tag-done-{language}")
    # then each member of the tag holds one, within the budget
    holders = set(Coupon.objects.filter(template=template).values_list("member_id", flat=True))
    assert holders == {m.pk for m in members}
    COUNTS[f"coupon to a tag ({language})"] = clicks.count
    assert clicks.count <= 5
    assert page.outside_requests == [] if hasattr(page, "outside_requests") else True


@pytest.mark.parametrize(
    ("name", "url", "shown"),
    [
        ("retention", "/console/analytics/retention/", "#retention, table"),
        ("funnel", "/console/analytics/funnels/", "#report-form"),
        ("sources", "/console/analytics/sources/", "#sources"),
    ],
)
def test_an_analyst_reads_a_report_in_one_click(
    lang_page: tuple[str, Any], live_server: Any, name: str, url: str, shown: str
) -> None:
    language, page = lang_page
    factories.operator_with_role("analyst", username=f"analyst-{name}-{language}")
    _home(page, live_server, f"analyst-{name}-{language}")
    clicks = Clicks(page)
    clicks.click(f"a[href='{url}']")
    page.wait_for_selector(shown)
    screenshot(page, f"task-read-{name}-{language}")
    COUNTS[f"read {name} ({language})"] = clicks.count
    assert clicks.count <= 1
