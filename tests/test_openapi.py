"""The OpenAPI document is a contract generated clients and the fuzzer rely on:
unique schema names, strict and bounded inputs, every error status documented
with the shared error shape, ``Idempotency-Key`` wherever a write takes it."""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ninja.operation import Operation
from ninja.params.models import BodyModel, ParamModel
from pydantic import BaseModel

from miniops.api import api
from miniops.core.openapi import required_headers
from miniops.core.schemas import ID_MAX, StrictIn

METHODS = {"get", "post", "put", "patch", "delete"}
WRITES = {"post", "put", "patch", "delete"}
ERROR_REF = "#/components/schemas/ErrorOut"

#: management operations any valid token may call
ANY_TOKEN = {"/api/v1/manage/me", "/api/v1/manage/permissions"}

#: the writes a client may retry, and whether they need the key
IDEMPOTENT = {
    ("post", "/api/v1/orders"): True,
    ("post", "/api/v1/flash-sales/items/{item_id}/buy"): True,
    ("post", "/api/v1/group-buys/{group_buy_id}/open"): True,
    ("post", "/api/v1/groups/{code}/join"): True,
    ("post", "/api/v1/coupons/{template_id}/claim"): False,
    ("post", "/api/v1/points-shop/{item_id}/redeem"): False,
    ("post", "/api/v1/posts"): True,
    ("post", "/api/v1/posts/{post_id}/comments"): True,
    ("post", "/api/v1/reviews"): True,
    ("post", "/api/v1/reviews/{review_id}/follow-up"): True,
    ("post", "/api/v1/reminders"): True,
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    # as served: through JSON (status codes become strings)
    return dict(json.loads(json.dumps(api.get_openapi_schema(path_prefix="/api/v1/"))))


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def ninja_operations() -> Iterator[Operation]:
    for router in api._get_bound_routers():
        for path_view in router.path_operations.values():
            yield from path_view.operations


def models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """Every pydantic model an annotation refers to (through lists, unions, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from models_in(arg)


def nested_models(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    for field in model.model_fields.values():
        for found in models_in(field.annotation):
            if found not in seen:
                seen.add(found)
                nested_models(found, seen)


def published_models() -> set[type[BaseModel]]:
    """The models that become ``#/components/schemas/...``: everything inside ninja's
    parameter and response wrappers."""
    found: set[type[BaseModel]] = set()
    for operation in ninja_operations():
        wrappers = [*operation.models]
        wrappers += [m for m in operation.response_models.values() if isinstance(m, type)]
        for wrapper in wrappers:
            nested_models(wrapper, found)
    return {m for m in found if not issubclass(m, ParamModel)}


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def integers(
    document: dict[str, Any], schema: dict[str, Any], name: str, seen: frozenset[str] = frozenset()
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every integer inside ``schema`` (a request body or parameter), with its name."""
    if "$ref" in schema:
        ref = schema["$ref"]
        if ref in seen:
            return
        yield from integers(document, resolve(document, schema), name, seen | {ref})
        return
    if schema.get("type") == "integer" and "enum" not in schema and "const" not in schema:
        yield name, schema
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            yield from integers(document, option, name, seen)
    if "items" in schema:
        yield from integers(document, schema["items"], name, seen)
    for prop, sub in schema.get("properties", {}).items():
        yield from integers(document, sub, prop, seen)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from integers(document, schema["additionalProperties"], name, seen)


# --- schema names --------------------------------------------------------------------------
def test_every_published_schema_name_belongs_to_one_class() -> None:
    # given every model the API publishes as a component
    by_name: dict[str, set[str]] = {}
    for model in published_models():
        by_name.setdefault(model.__name__, set()).add(f"{model.__module__}.{model.__qualname__}")
    # then no two classes share a name (ninja would publish only one of them)
    assert len(by_name) > 30, "the walk found too few models: it is broken"
    clashes = {name: sorted(classes) for name, classes in by_name.items() if len(classes) > 1}
    assert clashes == {}


def test_the_member_profile_and_the_calling_token_have_their_own_schemas(
    document: dict[str, Any],
) -> None:
    me = document["paths"]["/api/v1/me"]["get"]["responses"]["200"]
    token = document["paths"]["/api/v1/manage/me"]["get"]["responses"]["200"]
    me_schema = resolve(document, me["content"]["application/json"]["schema"])
    token_schema = resolve(document, token["content"]["application/json"]["schema"])
    assert {"nickname", "gender", "phone"} <= set(me_schema["properties"])
    assert {"token_name", "permissions"} <= set(token_schema["properties"])


# --- inputs ----------------------------------------------------------------------------------
def test_every_json_write_body_is_strict() -> None:
    loose = []
    bodies = 0
    for operation in ninja_operations():
        for model in operation.models:
            if not issubclass(model, BodyModel):
                continue
            for field in model.model_fields.values():
                for found in models_in(field.annotation):
                    bodies += 1
                    if not issubclass(found, StrictIn):
                        loose.append(f"{operation.view_func.__module__}.{found.__name__}")
    assert bodies > 20, "the walk found too few bodies: it is broken"
    assert loose == []


def test_every_integer_a_client_sends_is_bounded(document: dict[str, Any]) -> None:
    unbounded = []
    ids = 0
    for method, path, operation in operations(document):
        sources = [(p["name"], p["schema"]) for p in operation.get("parameters", [])]
        for content in operation.get("requestBody", {}).get("content", {}).values():
            sources.append(("body", content["schema"]))
        for source_name, schema in sources:
            for name, integer in integers(document, schema, source_name):
                low, high = integer.get("minimum"), integer.get("maximum")
                if low is None or high is None:
                    unbounded.append(f"{method} {path} {name}")
                elif name.endswith(("id", "_ids")):
                    ids += 1
                    # an id is a 64-bit primary key: nothing beyond it reaches the database
                    assert low >= 1, (method, path, name)
                    assert high <= ID_MAX, (method, path, name)
    assert ids > 30, "the walk found too few ids: it is broken"
    assert unbounded == []


# --- errors -----------------------------------------------------------------------------------
def test_every_operation_documents_its_error_statuses_with_the_shared_shape(
    document: dict[str, Any],
) -> None:
    for method, path, operation in operations(document):
        responses = {int(status): answer for status, answer in operation["responses"].items()}
        errors = {status for status in responses if status >= 400}
        where = f"{method} {path}"
        # then each error answer is the shared shape
        for status in errors:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_REF}, (where, status)
        # and the statuses the shared machinery answers are there
        assert {400, 429} <= errors, where
        if operation.get("security"):
            assert 401 in errors, where
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            assert 404 in errors, where
        if operation.get("parameters") or operation.get("requestBody"):
            assert 422 in errors, where
        if "application/json" in operation.get("requestBody", {}).get("content", {}):
            assert {413, 415} <= errors, where
        if path.startswith("/api/v1/manage/") and path not in ANY_TOKEN:
            assert 403 in errors, where


def test_the_error_schema_is_the_shape_the_api_answers(document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["ErrorOut"]
    detail = resolve(document, schema["properties"]["error"])
    assert set(detail["required"]) == {"code", "message", "fields"}


# --- Idempotency-Key -------------------------------------------------------------------------
def test_the_writes_that_take_an_idempotency_key_declare_it(document: dict[str, Any]) -> None:
    declared = {}
    for method, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "header" and parameter["name"] == "Idempotency-Key":
                declared[(method, path)] = parameter["required"]
                responses = set(operation["responses"])
                # a replay while the first runs is 409, the key with another body 422
                assert {"409", "422"} <= responses, (method, path)
    assert declared == IDEMPOTENT


def test_no_view_reads_the_idempotency_key_header_by_hand() -> None:
    # A header read from request.headers is invisible to the document: every view
    # takes it as a declared parameter (``IdempotencyKey``).
    for operation in ninja_operations():
        source = inspect.getsource(operation.view_func)
        assert 'headers.get("Idempotency-Key")' not in source, operation.view_func
        if "idempotency.run" in source:
            assert "Idempotency-Key" in required_headers(operation) or "IdempotencyKey(" in (
                source
            ), operation.view_func


def test_api_modules_do_not_read_the_header_outside_a_declaration() -> None:
    root = Path(__file__).resolve().parents[1] / "miniops"
    modules = [*root.glob("*/api.py"), *root.glob("*/api/*.py")]
    assert len(modules) > 8
    for module in modules:
        assert "HTTP_IDEMPOTENCY_KEY" not in module.read_text(), module
        assert 'headers.get("Idempotency-Key"' not in module.read_text(), module
