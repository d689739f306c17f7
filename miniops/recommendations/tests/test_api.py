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
