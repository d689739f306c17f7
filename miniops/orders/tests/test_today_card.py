"""The home card's today: orders, paid orders and GMV up to now against the same
hours of yesterday and of the same weekday last week, never against whole days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

import pytest
from django.test import Client

from miniops.core.timeutils import business_tz, local_date
from miniops.orders import selectors
from miniops.orders.models import Order
from miniops.testing import factories

pytestmark = pytest.mark.django_db


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=business_tz())


def order(day: date, hour: int, amount: int | None = None) -> None:
    """An order placed at ``hour`` of ``day``; paid then when ``amount`` is given."""
    made = factories.order(paid=amount is not None)
    fields: dict[str, object] = {"created_at": at(day, hour)}
    if amount is not None:
        fields.update(paid_at=at(day, hour), paid_amount=amount)
    Order.objects.filter(pk=made.pk).update(**fields)


@pytest.fixture
def ten_thirty(monkeypatch: pytest.MonkeyPatch) -> date:
    today = local_date()
    monkeypatch.setattr(selectors, "now", lambda: at(today, 10, 30))
    return today


def test_today_so_far_against_the_same_hours_of_yesterday_and_last_week(ten_thirty: date) -> None:
    today = ten_thirty
    # given today before 10:30: two orders placed, one paid
    order(today, 8)
    order(today, 9, 10_000)
    # yesterday: one paid before 10:30, three after (the evening rush)
    order(today - timedelta(days=1), 9, 4_000)
    for _ in range(3):
        order(today - timedelta(days=1), 20, 50_000)
    # the same weekday last week: four placed before 10:30, two of them paid
    for amount in (None, None, 2_500, 2_500):
        order(today - timedelta(days=7), 10, amount)
    order(today - timedelta(days=7), 11, 99_000)  # after 10:30: not counted
    # when
    so_far = selectors.today_so_far()
    # then
    assert so_far["until"].strftime("%H:%M") == "10:30"
    assert so_far["today"] == {"orders": 2, "paid_orders": 1, "gmv": 10_000}
    assert so_far["yesterday"] == {"orders": 1, "paid_orders": 1, "gmv": 4_000}
    assert so_far["last_week"] == {"orders": 4, "paid_orders": 2, "gmv": 5_000}
    assert so_far["vs_yesterday"] == {"orders": 1.0, "paid_orders": 0.0, "gmv": 1.5}
    assert so_far["vs_last_week"] == {"orders": -0.5, "paid_orders": -0.5, "gmv": 1.0}
    assert so_far["last_week_day"] == today - timedelta(days=7)


def test_nothing_to_compare_with_is_no_change() -> None:
    so_far = selectors.today_so_far()
    assert so_far["vs_yesterday"] == {"orders": None, "paid_orders": None, "gmv": None}


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", "vs same hours yesterday"), ("zh-hans", "较昨日同时段")],
)
def test_the_home_card_compares_with_the_same_hours(
    console_as: Callable[..., Client], ten_thirty: date, language: str, words: str
) -> None:
    today = ten_thirty
    order(today, 9, 10_000)
    order(today - timedelta(days=1), 9, 4_000)
    order(today - timedelta(days=1), 21, 99_000)
    client = console_as("ops_staff")
    page = client.get("/console/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    card = page[page.index('id="orders-today"') :]
    card = card[: card.index('id="orders-today-note"') + 200]
    assert words in card
    assert "▲ 150%" in card  # GMV 100.00 against 40.00 by 10:30 yesterday, not ▼ against 1,030.00
    assert "10:30" in card
