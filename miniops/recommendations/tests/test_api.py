"""GET /api/v1/products/{id}/related and GET /api/v1/recommendations."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from miniops.analytics.models import Event
from miniops.catalog.tests.helpers import assert_error
from miniops.recommendations import services
from miniops.recommendations.tests.test_serving import co_purchases, shop
from miniops.testing import factories

pytestmark = pytest.mark.django_db


def test_related_names_the_reason(client: Client) -> None:
    a, b = co_purchases(shop())
    services.train(actor=None)
    response = client.get(f"/api/v1/products/{a.pk}/related", {"limit": 5})
    assert response.status_code == 200, response.content
    items = response.json()["items"]
    assert items[0]["id"] == b.pk
    assert items[0]["reason"] == "bought_together"
    assert a.title in items[0]["reason_text"]
    assert a.pk not in [item["id"] for item in items]


def test_recommendations_cold_start_and_anonymous(client: Client) -> None:
    a, b = co_purchases(shop())
    services.train(actor=None)
    body = client.get("/api/v1/recommendations", {"limit": 8}).json()
    assert len(body["items"]) == 8
    assert body["arm"] == "recommendations"
    from django.utils import timezone

    now = timezone.now()
    Event.objects.create(
        uuid="00000000-0000-4000-8000-000000000001",
        name="product_view",
        anonymous_id="anon-42",
        ts=now,
        day=now.date(),
        received_at=now,
        properties={"product_id": a.pk},
    )
    items = client.get("/api/v1/recommendations", {"anonymous_id": "anon-42"}).json()["items"]
    assert items[0]["id"] == b.pk
    assert a.title in items[0]["reason_text"]


def test_signed_in_member_gets_their_list(client: Client) -> None:
    a, b = co_purchases(shop())
    services.train(actor=None)
    buyer = factories.member()
    factories.order(buyer=buyer, items=[(a.skus.first(), 1)], paid=True)
    access, _refresh = factories.member_tokens(buyer)
    response = client.get("/api/v1/recommendations", HTTP_AUTHORIZATION=f"Bearer {access}")
    items = response.json()["items"]
    assert items[0]["id"] == b.pk
    assert a.pk not in [item["id"] for item in items]  # bought already


@pytest.mark.parametrize(
    ("url", "params", "status"),
    [
        ("/api/v1/products/999999/related", {}, 404),
        ("/api/v1/products/0/related", {}, None),
        ("/api/v1/products/abc/related", {}, None),
        ("/api/v1/products/1/related", {"limit": 0}, None),
        ("/api/v1/products/1/related", {"limit": 51}, None),
        ("/api/v1/recommendations", {"limit": 1000}, None),
        ("/api/v1/recommendations", {"limit": "x"}, None),
        ("/api/v1/recommendations", {"anonymous_id": "a" * 65}, None),
        ("/api/v1/recommendations", {"anonymous_id": "<script>"}, None),
    ],
)
def test_bad_input_answers_the_shared_error_shape(
    client: Client, url: str, params: dict[str, Any], status: int | None
) -> None:
    shop(1, 2)
    assert_error(client.get(url, params), status)


def test_each_list_shown_is_an_impression_and_clicks_on_it_give_the_ctr(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    from miniops.analytics.tests.helpers import BATCH_URL, batch, event
    from miniops.recommendations import selectors

    a, _b = co_purchases(shop())
    services.train(actor=None)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.get("/api/v1/recommendations", {"limit": 4}).json()
        again = client.get("/api/v1/recommendations", {"limit": 4}).json()  # cached answer
        related = client.get(f"/api/v1/products/{a.pk}/related", {"limit": 3}).json()
    assert len({first["impression_id"], again["impression_id"], related["impression_id"]}) == 3
    assert first["items"] == again["items"]
    shown = Event.objects.get(uuid=first["impression_id"])
    assert shown.name == "recs_impression"
    assert shown.properties["items"] == [item["id"] for item in first["items"]]
    assert shown.properties["sources"] == [item["source"] for item in first["items"]]
    assert (shown.properties["surface"], shown.properties["arm"]) == ("for_you", "recommendations")
    assert shown.properties["model_version"] is not None
    assert Event.objects.get(uuid=related["impression_id"]).properties["product_id"] == a.pk
    # the client reports opening the first product of the first list (twice: counted once),
    # a product the list never showed, and a click on an unknown impression
    clicked = first["items"][0]
    clicks = [
        event(
            "recs_click",
            properties={
                "impression_id": first["impression_id"],
                "product_id": clicked["id"],
                "position": 1,
            },
        ),
        event(
            "recs_click",
            properties={
                "impression_id": first["impression_id"],
                "product_id": clicked["id"],
                "position": 1,
            },
        ),
        event(
            "recs_click", properties={"impression_id": first["impression_id"], "product_id": 10**9}
        ),
        event("recs_click", properties={"impression_id": "nope", "product_id": clicked["id"]}),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(BATCH_URL, batch(clicks), content_type="application/json")
    assert response.status_code in (200, 202), response.content
    report = selectors.impression_report(days=1)
    assert report["impressions"] == 3
    arms = {row["key"]: row for row in report["arms"]}
    assert arms["recommendations"]["shown"] == 8
    assert arms["recommendations"]["clicks"] == 1
    assert arms["recommendations"]["ctr"] == 1 / 8
    top = next(row for row in report["positions"] if row["key"] == "1-3")
    assert top["clicks"] == 1
    by_source = {row["key"]: row for row in report["sources"]}
    assert by_source[clicked["source"]]["clicks"] == 1
    assert sum(row["shown"] for row in report["sources"]) == 11
