"""Analytics in a real browser: an analyst sees the overview chart on the home
page, the live monitor update itself from events sent meanwhile, and builds a
funnel."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.test import Client
from django.utils import timezone

from miniops.analytics import lake, rollups
from miniops.analytics.models import Event
from miniops.analytics.tests.helpers import row, store
from miniops.testing import factories

from .conftest import screenshot
from .test_console_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def send(events: list[dict[str, Any]], anonymous_id: str) -> None:
    now = timezone.now()
    body = {"sent_at": int(now.timestamp() * 1000), "anonymous_id": anonymous_id, "events": events}
    response = Client().post(
        "/api/v1/events/batch", orjson.dumps(body), content_type="application/json"
    )
    assert response.status_code == 200, response.content


def minutes_since_local_midnight() -> float:
    now = timezone.localtime()
    return (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 60


def visit(anonymous_id: str, *, minutes_ago: float, buy: bool) -> None:
    start = timezone.now() - timedelta(minutes=minutes_ago)
    names = ["page_view", "product_view"] + (["add_to_cart"] if buy else [])
    send(
        [
            {
                "uuid": str(uuid.uuid4()),
                "name": name,
                "ts": int((start + timedelta(seconds=10 * i)).timestamp() * 1000),
                "session_id": f"s-{anonymous_id}",
                "path": "pages/index/index" if name == "page_view" else "pages/product/detail",
                "scene": 1007,
            }
            for i, name in enumerate(names)
        ],
        anonymous_id,
    )


def test_analyst_watches_live_traffic_and_builds_a_funnel(
    page: Any, live_server: Any, settings: Any, tmp_path: Any
) -> None:
    settings.MINIOPS_ANALYTICS_LAKE_DIR = str(tmp_path / "lake")
    # given three visitors earlier today (never before the local midnight: right after
    # it, wait a moment), two of whom added to the cart, and the rollups built
    since_midnight = minutes_since_local_midnight()
    if since_midnight < 2:
        time.sleep((2 - since_midnight) * 60)
        since_midnight = minutes_since_local_midnight()
    earlier = min(30.0, since_midnight - 1.5)
    for index, buy in enumerate([True, True, False]):
        visit(f"visitor-{index}", minutes_ago=earlier + index * 0.2, buy=buy)
    Event.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    rollups.run()
    lake.export()
    factories.operator_with_role("analyst", username="analyst")
    # when the analyst signs in
    sign_in(page, live_server.url, "analyst")
    page.wait_for_url(f"{live_server.url}/console/")
    # then the home page shows the overview with today's visitors and a chart
    page.wait_for_selector("#analytics-overview canvas")
    visitors_today = page.inner_text("#overview tr[data-metric=visitors] td:nth-child(2) div")
    assert visitors_today.strip() == "3"
    screenshot(page, "analytics-01-home-overview")

    # when they open the real-time monitor
    page.goto(f"{live_server.url}/console/analytics/realtime/")
    page.wait_for_function(
        "document.querySelector('[data-total=visitors]').textContent.trim() === '3'"
    )
    # and a new visitor arrives meanwhile
    visit("visitor-live", minutes_ago=0.2, buy=False)
    # then the monitor shows them within its refresh interval, without a reload
    page.wait_for_function(
        "document.querySelector('[data-total=visitors]').textContent.trim() === '4'",
        timeout=12_000,
    )
    assert "pages/index/index" in page.inner_text("#realtime-pages")
    screenshot(page, "analytics-02-realtime")

    # when they build a three-step funnel, picking each step from the events seen
    page.goto(f"{live_server.url}/console/analytics/funnels/")
    options = page.eval_on_selector_all(
        "#step-1-event option", "els => els.map(e => e.value).filter(Boolean)"
    )
    assert options == ["add_to_cart", "page_view", "product_view"]
    page.select_option("#step-1-event", "page_view")
    page.select_option("#step-2-event", "product_view")
    page.select_option("#step-3-event", "add_to_cart")
    with page.expect_navigation():
        page.click("#report-form button[type=submit]")
    # then each step shows its visitors: 3 → 3 → 2
    page.wait_for_selector("#funnel")
    counts = page.eval_on_selector_all(
        "#funnel tr[data-step] td[data-visitors]", "els => els.map(e => e.textContent.trim())"
    )
    assert counts == ["3", "3", "2"]
    # and the chart draws them as bars
    page.wait_for_selector("canvas.miniops-chart[data-drawn]")
    screenshot(page, "analytics-03-funnel")
    assert page.outside_requests == []


CHART_LANGUAGES = {"zh-Hans": "zh-CN", "en": "en-US"}


def legend(page: Any, selector: str) -> list[str]:
    """The legend entries Chart.js drew for the chart on ``selector``."""
    return page.eval_on_selector(
        selector, "c => Chart.getChart(c).legend.legendItems.map(item => item.text)"
    )


@pytest.mark.parametrize("language", list(CHART_LANGUAGES))
def test_each_chart_draws_with_its_legend_and_the_compared_period(
    browser: Any, live_server: Any, settings: Any, tmp_path: Any, language: str
) -> None:
    settings.MINIOPS_ANALYTICS_LAKE_DIR = str(tmp_path / "lake")
    # given visitors this month and last month, rolled up
    since_midnight = minutes_since_local_midnight()
    if since_midnight < 2:
        time.sleep((2 - since_midnight) * 60)
        since_midnight = minutes_since_local_midnight()
    for index, buy in enumerate([True, True, False]):
        visit(f"chart-visitor-{index}", minutes_ago=min(30.0, since_midnight - 1.5), buy=buy)
    store(row(at=timezone.now() - timedelta(days=35), anonymous_id="last-month"))
    Event.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    rollups.run()
    lake.export()
    factories.operator_with_role("analyst", username=f"charts-{language}")
    context = browser.new_context(
        locale=CHART_LANGUAGES[language], viewport={"width": 1400, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    try:
        sign_in(page, live_server.url, f"charts-{language}")
        page.wait_for_url(f"{live_server.url}/console/")
        # the home page: the overview chart, both periods in its legend
        page.wait_for_selector("#analytics-overview canvas.miniops-chart[data-drawn]")
        items = legend(page, "#analytics-overview canvas.miniops-chart")
        assert len(items) == 4
        previous = "前 30 天" if language == "zh-Hans" else "previous 30 days"
        assert sum(previous in item for item in items) == 2
        assert page.locator("#overview [data-same-hours]").count() > 0
        screenshot(page, f"charts-01-home-{language}")
        # trends: this period and the compared one
        page.goto(f"{live_server.url}/console/analytics/trends/")
        page.wait_for_selector("canvas.miniops-chart[data-drawn]")
        items = legend(page, "canvas.miniops-chart")
        compared = "对比区间" if language == "zh-Hans" else "Compared period"
        assert len(items) == 2
        assert compared in items[1]
        screenshot(page, f"charts-02-trends-{language}")
        # the funnel: bars with their counts
        page.goto(f"{live_server.url}/console/analytics/funnels/")
        page.wait_for_selector("canvas.miniops-chart[data-drawn]")
        data = page.eval_on_selector(
            "canvas.miniops-chart", "c => Chart.getChart(c).data.datasets[0].data"
        )
        assert data[0] >= 3
        screenshot(page, f"charts-03-funnel-{language}")
        # the sources: ranked horizontal bars
        page.goto(f"{live_server.url}/console/analytics/sources/")
        page.wait_for_selector("canvas.miniops-chart[data-drawn]")
        axis = page.eval_on_selector(
            "canvas.miniops-chart", "c => Chart.getChart(c).options.indexAxis"
        )
        assert axis == "y"
        screenshot(page, f"charts-04-sources-{language}")
        assert errors == []
    finally:
        context.close()
