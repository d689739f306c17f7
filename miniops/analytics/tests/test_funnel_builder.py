"""The funnel builder: steps picked from the events seen, each with an optional
property filter; anything else is a form error (400), never a 500."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from miniops.analytics import lake, selectors
from miniops.analytics.models import Funnel
from miniops.analytics.tests.helpers import days_ago, local, row, store
from miniops.testing import factories

pytestmark = pytest.mark.django_db

BASE = "/console/analytics/funnels/"
Console = Callable[..., Client]


@pytest.fixture
def shop_visits() -> None:
    """Yesterday: three visitors view products (categories 12, 12 and 13), two
    of them add to the cart."""
    day = days_ago(1)
    settled = timezone.now() - timedelta(minutes=5)
    for index, category in enumerate([12, 12, 13]):
        visitor = f"v{index}"
        store(
            row(
                at=local(day, 9, index),
                anonymous_id=visitor,
                path="pages/index",
                received_at=settled,
            ),
            row(
                "product_view",
                at=local(day, 9, index, 30),
                anonymous_id=visitor,
                properties={"category": category, "product_id": 100 + index},
                received_at=settled,
            ),
        )
        if index < 2:
            store(
                row(
                    "add_to_cart",
                    at=local(day, 10, index),
                    anonymous_id=visitor,
                    received_at=settled,
                )
            )
    lake.export()


def picked(*steps: tuple[str, str, str], **extra: Any) -> dict[str, Any]:
    day = str(days_ago(1))
    return {
        "steps_event": [event for event, _p, _v in steps],
        "steps_property": [prop for _e, prop, _v in steps],
        "steps_value": [value for _e, _p, value in steps],
        "first": day,
        "last": day,
        "window_hours": "24",
        **extra,
    }


def test_the_picker_offers_the_events_seen_and_their_properties(shop_visits: None) -> None:
    assert selectors.event_names() == ["add_to_cart", "page_view", "product_view"]
    properties = selectors.event_properties()
    assert {"category", "product_id", "path", "scene"} <= set(properties)


def test_the_page_lists_the_events_seen_in_each_step_select(
    console_as: Console, shop_visits: None
) -> None:
    response = console_as("analyst").get(BASE)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('name="steps_event"') == 10
    assert '<option value="product_view"' in html
    # the default funnel is made of the usual steps the data holds
    assert response.context["form"]["steps"].value() == "page_view\nproduct_view\nadd_to_cart"


def test_a_step_filtered_by_a_property(console_as: Console, shop_visits: None) -> None:
    # when the analyst picks page view → product view where category = 12 → add to cart
    response = console_as("analyst").get(
        BASE,
        picked(
            ("page_view", "", ""),
            ("product_view", "category", "12"),
            ("add_to_cart", "", ""),
            ("", "", ""),
        ),
    )
    # then only the two visitors who viewed category 12 pass the second step
    assert response.status_code == 200, response.context["form"].errors
    report = response.context["report"]
    assert [s["visitors"] for s in report["steps"]] == [3, 2, 2]
    assert report["steps"][1]["label"] == "product_view (category = 12)"
    # and the chart labels each bar with its count and its conversion
    chart = response.context["chart"]
    assert chart["datasets"][0]["data"] == [3, 2, 2]
    assert chart["valueLabels"][0] == "3"
    assert chart["valueLabels"][1].startswith("2 · ")
    assert "66.7%" in chart["valueLabels"][1]
    # and the picker shows the steps back, the filter included
    rows = response.context["step_rows"]
    assert (rows[1]["event"], rows[1]["property"], rows[1]["value"]) == (
        "product_view",
        "category",
        "12",
    )


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ((("page_view", "", ""), ("checkout_magic", "", "")), "checkout_magic"),
        ((("page_view", "", ""), ("product_view", "cat-egory", "12")), "letters"),
        ((("page_view", "", ""), ("product_view", "category", "")), "value"),
        ((("page_view", "", ""), ("product_view", "", "12")), "property"),
        ((("page_view", "", ""), ("", "category", "12")), "event"),
        ((("page_view", "", ""),), "2"),
    ],
    ids=["unknown event", "bad property", "no value", "value alone", "no event", "one step"],
)
def test_a_bad_step_is_a_form_error(
    console_as: Console, shop_visits: None, steps: tuple[tuple[str, str, str], ...], message: str
) -> None:
    response = console_as("analyst").get(BASE, picked(*steps), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    errors = " ".join(response.context["form"].errors["steps"])
    assert message in errors
    assert 'id="steps-errors"' in response.content.decode()


def test_an_unknown_event_in_a_saved_link_shows_in_its_row(
    console_as: Console, shop_visits: None
) -> None:
    response = console_as("analyst").get(BASE, {"steps": "page_view\nnever_sent"})
    assert response.status_code == 400
    assert response.context["step_rows"][1]["unknown"] is True


def test_saving_from_the_name_field_of_the_save_form(
    console_as: Console, shop_visits: None
) -> None:
    client = console_as("ops_manager")
    page = client.get(BASE).content.decode()
    # the name's label belongs to its input, inside the form that saves
    save_form = page[page.index('id="save-funnel"') :]
    save_form = save_form[: save_form.index("</form>")]
    assert 'for="id_name"' in save_form
    assert 'id="id_name"' in save_form
    response = client.post(
        BASE,
        {
            **picked(("page_view", "", ""), ("product_view", "category", "12")),
            "name": "看 12 类",
        },
    )
    assert response.status_code == 302
    saved = Funnel.objects.get()
    assert saved.steps == [
        {"event": "page_view", "property": "", "value": None},
        {"event": "product_view", "property": "category", "value": "12"},
    ]


def test_saving_an_unknown_event_is_refused(console_as: Console, shop_visits: None) -> None:
    response = console_as("ops_manager").post(
        BASE, {**picked(("page_view", "", ""), ("nope", "", "")), "name": "x"}
    )
    assert response.status_code == 400
    assert not Funnel.objects.exists()


def test_with_too_few_events_seen_the_builder_opens_empty(console_as: Console) -> None:
    factories.member()
    response = console_as("analyst").get(BASE)
    assert response.status_code == 200
    assert response.context["report"] is None
