"""Every JSON write body, walked from the routers: a body that is not a JSON object,
a misspelt field, or a body not sent as JSON is refused before the view runs,
with the shared error shape, and changes nothing.

Found by fuzzing: ``[]`` and ``"x"`` validated as bodies of defaults (django-ninja
reads fields off any value as attributes), so ``POST /manage/orders/{id}/cancel``
with ``[null, null]`` cancelled an order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from ninja.params.models import BodyModel

from miniops.api import api
from miniops.core.permissions import PERMISSIONS, R
from miniops.orders.models import Order, OrderStatus
from miniops.testing import factories

pytestmark = pytest.mark.django_db

#: raw-body operations that read JSON themselves (the 415 rule holds for them too)
RAW_JSON = {("POST", "/api/v1/events/batch")}


def json_operations() -> Iterator[tuple[str, str, str]]:
    """(method, path with its parameters filled in, access) of every JSON write."""
    for router in api._get_bound_routers():
        for path, path_view in router.path_operations.items():
            full = "/api/v1/" + "/".join(p for p in (router.prefix.strip("/"), path) if p)
            full = re.sub(r"//+", "/", full)
            for operation in path_view.operations:
                has_body = any(issubclass(m, BodyModel) for m in operation.models)
                for method in operation.methods:
                    if not has_body and (method, full) not in RAW_JSON:
                        continue
                    access = {getattr(a, "access", None) for a in operation.auth_callbacks}
                    # ids of nothing (404 after the body), codes of the right shape
                    filled = re.sub(r"{\w*_id}", "987654", full)
                    filled = filled.replace("{code}", "NOSUCHCODE")
                    yield (
                        method,
                        filled,
                        "operator"
                        if "operator" in access
                        else ("member" if "member" in access else "public"),
                    )


CASES = sorted(set(json_operations()))


def optional_bodies() -> set[str]:
    """Paths whose body may be left out (``payload: X | None = None``): for them
    ``null`` is "no body", as the document says."""
    found = set()
    for router in api._get_bound_routers():
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                for model in operation.models:
                    if issubclass(model, BodyModel) and not any(
                        field.is_required() for field in model.model_fields.values()
                    ):
                        found.add(re.sub(r"{\w*_id}", "987654", path.strip("/")))
    return found


OPTIONAL = optional_bodies()


@pytest.fixture
def clients() -> dict[str, Client]:
    person = factories.member()
    access, _ = factories.member_tokens(person)
    operator = factories.operator_with_role(R.SUPER_ADMIN)
    _token, secret = factories.api_token(operator, sorted(PERMISSIONS))
    return {
        "public": Client(),
        "member": Client(HTTP_AUTHORIZATION=f"Bearer {access}"),
        "operator": Client(HTTP_AUTHORIZATION=f"Bearer {secret}"),
    }


def send(client: Client, method: str, path: str, body: bytes, content_type: str | None) -> Any:
    extra = {"HTTP_IDEMPOTENCY_KEY": "write-bodies-test"}
    if content_type is None:
        # Django's test client always sets one: send the request without it
        return client.generic(method, path, body, **extra, CONTENT_TYPE="")
    return client.generic(method, path, body, content_type=content_type, **extra)


def assert_error(response: Any, status: int, code: str | None = None) -> None:
    assert response.status_code == status, (response.status_code, response.content[:300])
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"}
    if code:
        assert error["code"] == code, error


def test_the_walk_finds_the_writes() -> None:
    paths = {path for _method, path, _access in CASES}
    assert len(CASES) > 25
    assert "/api/v1/manage/orders/987654/cancel" in paths
    assert "/api/v1/me" in paths


@pytest.mark.parametrize(("method", "path", "access"), CASES)
@pytest.mark.parametrize("body", [b"[]", b'"x"', b"[null,null]", b"1", b"null", b"true"])
def test_a_body_that_is_not_an_object_is_422(
    clients: dict[str, Client], method: str, path: str, access: str, body: bytes
) -> None:
    if body == b"null" and path.removeprefix("/api/v1/") in OPTIONAL:
        pytest.skip("null is the absent optional body here")
    response = send(clients[access], method, path, body, "application/json")
    if (method, path) in RAW_JSON:
        assert_error(response, 422)
        return
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize(("method", "path", "access"), CASES)
@pytest.mark.parametrize("content_type", ["text/plain", None, "application/x-www-form-urlencoded"])
def test_a_body_not_sent_as_json_is_415(
    clients: dict[str, Client], method: str, path: str, access: str, content_type: str | None
) -> None:
    response = send(clients[access], method, path, b'{"a": 1}', content_type)
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(("method", "path", "access"), [c for c in CASES if c[:2] not in RAW_JSON])
def test_an_unknown_field_is_422_naming_it(
    clients: dict[str, Client], method: str, path: str, access: str
) -> None:
    response = send(clients[access], method, path, b'{"no_such_field": 1}', "application/json")
    assert_error(response, 422, "validation_error")
    assert "no_such_field" in response.json()["error"]["fields"]


def test_a_cancel_with_a_list_for_a_body_cancels_nothing(clients: dict[str, Client]) -> None:
    # given an unpaid order
    order = factories.order()
    # when an operator sends [null, null] as the body of a cancellation
    response = send(
        clients["operator"],
        "POST",
        f"/api/v1/manage/orders/{order.pk}/cancel",
        b"[null,null]",
        "application/json",
    )
    # then it is refused and the order is still unpaid
    assert_error(response, 422, "validation_error")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.UNPAID


def test_an_empty_body_is_a_missing_body_not_a_wrong_type(clients: dict[str, Client]) -> None:
    # given an unpaid order; when an operator cancels it with no body and no type
    order = factories.order()
    response = send(
        clients["operator"], "POST", f"/api/v1/manage/orders/{order.pk}/cancel", b"", None
    )
    # then the body is missing (422; there is no body to have a wrong type, so no 415)
    assert_error(response, 422, "validation_error")
    assert "payload" in response.json()["error"]["fields"]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.UNPAID
