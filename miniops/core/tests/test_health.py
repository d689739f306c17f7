from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.test import Client


def test_healthz_answers_without_touching_dependencies(client: Client) -> None:
    # given: a database that would fail if touched
    with mock.patch("miniops.core.health._check_database", side_effect=AssertionError):
        # when
        response = client.get("/healthz")
    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_each_dependency(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "task_queue"}
    assert all(check["ok"] for check in body["checks"].values())


@pytest.mark.django_db
@pytest.mark.parametrize("failing", ["database", "cache", "task_queue"])
def test_readyz_is_503_and_names_the_broken_dependency(client: Client, failing: str) -> None:
    from miniops.core import health

    broken = mock.Mock(side_effect=ConnectionError("down"))
    with mock.patch.dict(health.CHECKS, {failing: broken}):
        response = client.get("/readyz")
    assert response.status_code == 503
    body: dict[str, Any] = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"][failing] == {"ok": False, "error": "ConnectionError", "ms": mock.ANY}
    others = set(body["checks"]) - {failing}
    assert all(body["checks"][name]["ok"] for name in others)


@pytest.mark.django_db
def test_task_queue_check_talks_to_the_configured_storage() -> None:
    """The readiness check uses a real storage round trip (SQLite file or Redis)."""
    from django.conf import settings
    from huey.contrib.djhuey import HUEY

    expected = "Redis" if settings.REDIS_URL else "Sqlite"
    huey_class = settings.HUEY["huey_class"]
    assert expected.lower() in str(huey_class).lower()
    # In tests Huey runs in immediate mode; the configured storage class is what
    # production uses, so check it is reachable with a fresh instance.
    from django.utils.module_loading import import_string

    options = {k: v for k, v in settings.HUEY.items() if k not in {"huey_class", "consumer"}}
    options["immediate"] = False
    real = import_string(huey_class)(**options)
    assert real.pending_count() >= 0
    assert HUEY is not None
