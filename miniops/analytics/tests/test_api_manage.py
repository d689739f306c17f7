"""The management API for analytics (/api/v1/manage/analytics/...): every endpoint
answers with analytics.view and refuses without it; bad query parameters and
bodies are 4xx in the shared error shape, never a 500; unknown ids are 404."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from miniops.analytics import lake, rollups
from miniops.analytics.models import Funnel
from miniops.analytics.tests.helpers import MANAGE, bearer, days_ago, error_of, local, row, store
from miniops.analytics.tests.helpers import today as local_today
from miniops.testing import factories

pytestmark = pytest.mark.django_db

BUG_FUNNEL_DATES = (
    "BUG miniops/analytics/api.py FunnelIn: the body schema is StrictIn (pydantic strict "
    "mode) with first/last typed date, and strict mode refuses the ISO string JSON "
    "carries, so POST /analytics/funnels/query with any first/last answers 422 "
    "'Input should be a valid date': only the default last-30-days range can be queried"
)
BUG_JSON_PATH = (
    "BUG miniops/analytics/selectors.py _step_condition: a step property that is not a "
    "column becomes the DuckDB JSON path '$.' + name unchecked (only '\"' is removed), so "
    "names such as 'x[', 'x.', 'a..b' or '*' make DuckDB raise while binding the query "
    "-> 500 on POST /analytics/funnels/query (and GET /funnels/{id}, the console page) "
    "instead of a 400/422 field error or no match"
)
BUG_DATE_OVERFLOW = (
    "BUG miniops/analytics/api.py _range and selectors (retention horizon, range_bounds, "
    "trend, funnel): dates near 0001-01-01 or 9999-12-31 pass validation but the code "
    "adds/subtracts days (default first = last - 29 days, horizon = last + periods, "
    "day_bounds in UTC) -> OverflowError -> 500 internal_error instead of a 400/422"
)


@pytest.fixture
def token() -> str:
    """An operations manager's token with analytics.view, and analytics.alerts for
    saving funnels (reading needs only analytics.view)."""
    operator = factories.operator_with_role("ops_manager")
    return factories.api_token(operator, ["analytics.view", "analytics.alerts"])[1]


@pytest.fixture
def no_view_token() -> str:
    """A token of the same analyst without analytics.view."""
    operator = factories.operator_with_role("analyst")
    return factories.api_token(operator, ["orders.view"])[1]


def get(client: Client, path: str, token: str | None, **params: Any) -> Any:
    headers = bearer(token) if token else {}
    return client.get(f"{MANAGE}{path}", params, **headers)


def post(client: Client, path: str, token: str | None, body: Any) -> Any:
    headers = bearer(token) if token else {}
    return client.post(f"{MANAGE}{path}", body, content_type="application/json", **headers)


STEPS = [{"event": "page_view", "property": "path", "value": "pages/index"}, {"event": "tap"}]


def endpoints() -> list[tuple[str, str, Any]]:
    """(method, path, body or params) for every endpoint; ``{funnel}`` and
    ``{member}`` are filled in by the test."""
    return [
        ("get", "/overview", {}),
        ("get", "/trends", {"metric": "gmv", "grain": "week"}),
        ("get", "/retention", {"grain": "week", "periods": 4}),
        ("get", "/retention", {"returned_event": "order_paid", "periods": 3}),
        ("post", "/funnels/query", {"steps": STEPS, "window_hours": 48, "breakdown": "scene"}),
        ("get", "/funnels", {}),
        ("post", "/funnels", {"name": "首页到点击", "steps": STEPS}),
        ("get", "/funnels/{funnel}", {"breakdown": "channel"}),
        ("get", "/sources", {"by": "share"}),
        ("get", "/features", {}),
        ("get", "/realtime", {}),
        ("get", "/members/{member}/timeline", {"limit": 5}),
    ]


def call(client: Client, method: str, path: str, body: Any, token: str | None) -> Any:
    path = path.format(funnel=factories.funnel().pk, member=factories.member().pk)
    if method == "get":
        return get(client, path, token, **body)
    return post(client, path, token, body)


@pytest.mark.parametrize(("method", "path", "body"), endpoints())
def test_every_endpoint_answers_with_analytics_view(
    client: Client, token: str, method: str, path: str, body: Any
) -> None:
    response = call(client, method, path, body, token)
    assert response.status_code in (200, 201), response.content


@pytest.mark.parametrize(("method", "path", "body"), endpoints())
def test_every_endpoint_refuses_a_token_without_analytics_view(
    client: Client, no_view_token: str, method: str, path: str, body: Any
) -> None:
    response = call(client, method, path, body, no_view_token)
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"


@pytest.mark.parametrize(("method", "path", "body"), endpoints())
def test_every_endpoint_needs_a_token(client: Client, method: str, path: str, body: Any) -> None:
    response = call(client, method, path, body, None)
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_saving_a_funnel_as_an_integrator(client: Client, token: str) -> None:
    # when
    response = post(
        client,
        "/funnels",
        token,
        {"name": "下单漏斗", "steps": [*STEPS, {"event": "order_paid", "label": "付款"}]},
    )
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    saved = Funnel.objects.get(pk=body["id"])
    assert (saved.name, saved.window_hours) == ("下单漏斗", 24)
    assert saved.steps == [
        {"event": "page_view", "property": "path", "value": "pages/index"},
        {"event": "tap", "property": "", "value": None},
        {"event": "order_paid", "property": "", "value": None, "label": "付款"},
    ]
    assert body["steps"] == saved.steps
    listed = get(client, "/funnels", token).json()
    assert [f["name"] for f in listed] == ["下单漏斗"]


def test_a_saved_funnel_report_counts_from_the_lake(client: Client, token: str) -> None:
    # given two visitors, one of whom tapped after the index page, in the lake
    day = days_ago(3)
    settled = timezone.now() - timedelta(minutes=5)
    store(
        row(at=local(day, 9), anonymous_id="u1", path="pages/index", received_at=settled),
        row("tap", at=local(day, 9, 1), anonymous_id="u1", received_at=settled),
        row(at=local(day, 10), anonymous_id="u2", path="pages/index", received_at=settled),
    )
    lake.export()
    funnel = factories.funnel(name="首页", steps=STEPS)
    # when
    response = get(client, f"/funnels/{funnel.pk}", token, first=str(day), last=str(day))
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["funnel"] == {"id": funnel.pk, "name": "首页"}
    assert [s["visitors"] for s in body["steps"]] == [2, 1]
    assert body["table"]["rows"][1][1] == 1


def test_the_funnel_query_without_dates_reads_the_last_30_days(client: Client, token: str) -> None:
    settled = timezone.now() - timedelta(minutes=5)
    store(row(at=local(days_ago(2), 9), anonymous_id="u1", path="pages/index", received_at=settled))
    lake.export()
    response = post(client, "/funnels/query", token, {"steps": STEPS})
    assert response.status_code == 200, response.content
    assert [s["visitors"] for s in response.json()["steps"]] == [1, 0]


def test_the_funnel_query_takes_a_date_range(client: Client, token: str) -> None:
    first, last = days_ago(10), days_ago(3)
    response = post(
        client, "/funnels/query", token, {"steps": STEPS, "first": str(first), "last": str(last)}
    )
    assert response.status_code == 200, response.content


def test_trends_and_overview_read_the_rollups(client: Client, token: str) -> None:
    day = days_ago(5)
    store(row(at=local(day, 9), anonymous_id="u1"), row(at=local(day, 9), anonymous_id="u2"))
    rollups.rebuild_day(day)
    response = get(client, "/trends", token, metric="visitors", first=str(day), last=str(day))
    assert response.json()["series"] == [[str(day), 2]]
    compared = get(
        client,
        "/trends",
        token,
        metric="pageviews",
        first=str(day),
        last=str(day),
        compare_first=str(day - timedelta(1)),
        compare_last=str(day - timedelta(1)),
    ).json()
    assert compared["compare"] == [[str(day - timedelta(1)), 0]]
    assert compared["table"]["rows"] == [[str(day), 2, str(day - timedelta(1)), 0]]
    overview = get(client, "/overview", token).json()
    assert overview["today"] == str(local_today())
    assert set(overview["periods"]) == {"today", "yesterday", "last_7_days", "last_30_days"}


def test_the_member_timeline(client: Client, token: str) -> None:
    person = factories.member()
    store(
        row(at=local(days_ago(1), 9), member_id=person.pk, path="pages/a", scene=1007),
        row("tap", at=local(days_ago(1), 10), member_id=person.pk, properties={"k": 1}),
        row(at=local(days_ago(1), 11), member_id=person.pk + 1000),
    )
    response = get(client, f"/members/{person.pk}/timeline", token, limit=1)
    assert response.status_code == 200
    assert response.json() == [
        {
            "name": "tap",
            "source": "client",
            "ts": response.json()[0]["ts"],
            "path": "",
            "scene": None,
            "channel": "",
            "properties": {"k": 1},
        }
    ]
    assert len(get(client, f"/members/{person.pk}/timeline", token).json()) == 2


# --- bad input -----------------------------------------------------------------------------------
BAD_QUERIES: list[tuple[str, dict[str, Any], int]] = [
    ("/trends", {"first": "2026-11-10", "last": "2026-11-01"}, 400),
    ("/trends", {"first": "2025-01-01", "last": "2026-01-02"}, 400),  # 367 days
    ("/trends", {"first": "2026-11-1x"}, 422),
    ("/trends", {"first": "20261101"}, 422),
    ("/trends", {"metric": "revenue"}, 422),
    ("/trends", {"metric": ""}, 422),
    ("/trends", {"grain": "year"}, 422),
    ("/trends", {"compare_first": "2026-10-01"}, 400),
    ("/trends", {"compare_first": "2026-10-10", "compare_last": "2026-10-01"}, 400),
    ("/trends", {"compare_first": "2024-01-01", "compare_last": "2026-01-01"}, 400),
    ("/retention", {"periods": 0}, 422),
    ("/retention", {"periods": 61}, 422),
    ("/retention", {"periods": "ten"}, 422),
    ("/retention", {"periods": "1.5"}, 422),
    ("/retention", {"grain": "month"}, 422),
    ("/retention", {"cohort_by": "payment"}, 422),
    ("/retention", {"returned_event": "x" * 65}, 422),
    ("/retention", {"returned_event": "a\x00b"}, 400),
    ("/retention", {"first": "2026-11-10", "last": "2026-11-01"}, 400),
    ("/sources", {"by": "city"}, 422),
    ("/sources", {"first": "2026-11-10", "last": "2026-11-01"}, 400),
    ("/features", {"first": "2025-11-01", "last": "2026-11-02"}, 400),
    ("/features", {"last": "yesterday"}, 422),
    ("/funnels/1", {"breakdown": "city"}, 422),
]


@pytest.mark.parametrize(("path", "params", "status"), BAD_QUERIES, ids=repr)
def test_bad_query_parameters_are_refused_in_the_shared_shape(
    client: Client, token: str, path: str, params: dict[str, Any], status: int
) -> None:
    response = get(client, path, token, **params)
    assert response.status_code == status, response.content
    error = error_of(response)
    assert error["code"] in ("validation_error", "invalid_input", "malformed_request"), error
    if status != 400 or error["code"] != "malformed_request":
        assert error["fields"], error


def test_a_range_of_exactly_366_days_is_allowed(client: Client, token: str) -> None:
    response = get(client, "/trends", token, first="2025-01-01", last="2026-01-01", grain="month")
    assert response.status_code == 200
    refused = get(client, "/trends", token, first="2025-01-01", last="2026-01-02")
    assert refused.status_code == 400
    assert set(error_of(refused)["fields"]) == {"last"}


def step(n: int) -> list[dict[str, Any]]:
    return [{"event": f"e{i}"} for i in range(n)]


BAD_STEPS: list[tuple[str, Any]] = [
    ("one step", {"steps": step(1)}),
    ("eleven steps", {"steps": step(11)}),
    ("no steps", {"steps": []}),
    ("steps missing", {}),
    ("steps not a list", {"steps": "page_view,tap"}),
    ("a step not an object", {"steps": ["page_view", "tap"]}),
    ("an empty event", {"steps": [{"event": ""}, {"event": "tap"}]}),
    ("an event too long", {"steps": [{"event": "e" * 65}, {"event": "tap"}]}),
    ("an event not a string", {"steps": [{"event": 1}, {"event": "tap"}]}),
    (
        "a value that is a list",
        {"steps": [{"event": "a", "property": "p", "value": [1]}, *step(1)]},
    ),
    ("a property without a value", {"steps": [{"event": "a", "property": "path"}, *step(1)]}),
    ("window 0", {"steps": step(2), "window_hours": 0}),
    ("window 721", {"steps": step(2), "window_hours": 721}),
    ("window as a string", {"steps": step(2), "window_hours": "24"}),
    ("window as true", {"steps": step(2), "window_hours": True}),
    ("not an object", [1, 2]),
    ("a NUL in an event", {"steps": [{"event": "a\x00"}, {"event": "tap"}]}),
]
BAD_FUNNELS = [
    *BAD_STEPS,
    ("unknown breakdown", {"steps": step(2), "breakdown": "city"}),
    ("last not a date", {"steps": step(2), "last": "yesterday"}),
    ("last a number", {"steps": step(2), "last": 20261101}),
]


@pytest.mark.parametrize(("case", "body"), BAD_FUNNELS, ids=[c for c, _b in BAD_FUNNELS])
def test_bad_funnel_queries_are_4xx(client: Client, token: str, case: str, body: Any) -> None:
    response = post(client, "/funnels/query", token, body)
    assert 400 <= response.status_code < 500, response.content
    error_of(response)


@pytest.mark.parametrize(("case", "body"), BAD_STEPS, ids=[c for c, _b in BAD_STEPS])
def test_bad_funnels_are_not_saved(client: Client, token: str, case: str, body: Any) -> None:
    if isinstance(body, dict):
        body = {"name": "漏斗", **body}
    response = post(client, "/funnels", token, body)
    assert 400 <= response.status_code < 500, response.content
    error_of(response)
    assert not Funnel.objects.exists()


@pytest.mark.parametrize("name", ["", "x" * 81, 5, None])
def test_a_funnel_needs_a_name(client: Client, token: str, name: Any) -> None:
    response = post(client, "/funnels", token, {"name": name, "steps": step(2)})
    assert response.status_code == 422
    assert "name" in error_of(response)["fields"]
    assert not Funnel.objects.exists()


def test_a_blank_funnel_name_is_refused_by_the_service(client: Client, token: str) -> None:
    response = post(client, "/funnels", token, {"name": "   ", "steps": step(2)})
    assert response.status_code == 400
    assert "name" in error_of(response)["fields"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/funnels/999999", 404),
        ("/funnels/0", 422),
        ("/funnels/-1", 422),
        ("/funnels/abc", 422),
        (f"/funnels/{2**63}", 422),
        ("/members/999999/timeline", 404),
        ("/members/0/timeline", 422),
        (f"/members/{2**64}/timeline", 422),
    ],
)
def test_unknown_or_bad_ids(client: Client, token: str, path: str, status: int) -> None:
    response = get(client, path, token)
    assert response.status_code == status, response.content
    error_of(response)


@pytest.mark.parametrize("limit", [0, 201, -5, "all"])
def test_a_bad_timeline_limit_is_422(client: Client, token: str, limit: Any) -> None:
    person = factories.member()
    response = get(client, f"/members/{person.pk}/timeline", token, limit=limit)
    assert response.status_code == 422
    error_of(response)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/retention", {"first": "9999-12-01", "last": "9999-12-31"}),
        ("/retention", {"first": "0001-01-01", "last": "0001-01-02", "cohort_by": "registration"}),
        ("/trends", {"first": "0001-01-01", "last": "0001-01-20", "grain": "week"}),
        ("/trends", {"first": "9999-12-01", "last": "9999-12-31", "grain": "month"}),
        ("/trends", {"last": "0001-01-05"}),
        ("/sources", {"last": "0001-01-05"}),
        ("/features", {"last": "0001-01-03"}),
        ("/funnels/{funnel}", {"first": "0001-01-01", "last": "0001-01-02"}),
        ("/funnels/{funnel}", {"first": "9999-12-01", "last": "9999-12-31"}),
    ],
    ids=repr,
)
def test_dates_at_the_ends_of_the_calendar_are_never_a_500(
    token: str, path: str, params: dict[str, Any]
) -> None:
    client = Client(raise_request_exception=False)
    response = get(client, path.format(funnel=factories.funnel().pk), token, **params)
    assert response.status_code < 500, response.content


@pytest.mark.parametrize("prop", ["x[", "x.", "a..b", "*"])
def test_a_property_name_that_is_no_json_path_is_never_a_500(token: str, prop: str) -> None:
    # given some events in the lake
    settled = timezone.now() - timedelta(minutes=5)
    store(
        row(at=local(days_ago(2), 9), anonymous_id="u1", received_at=settled, properties={"x": 1})
    )
    lake.export()
    # when a funnel filters on that property
    response = post(
        Client(raise_request_exception=False),
        "/funnels/query",
        token,
        {"steps": [{"event": "page_view", "property": prop, "value": "1"}, {"event": "tap"}]},
    )
    # then it is refused as bad input, or simply matches nothing
    assert response.status_code in (200, 400, 422), response.content
