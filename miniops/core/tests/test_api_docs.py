"""The API docs and schema load nothing from another origin (intranet installs)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_openapi_schema_is_served() -> None:
    schema = Client().get("/api/v1/openapi.json").json()
    assert schema["info"]["title"] == "miniops API"
    assert "/api/v1/config" in schema["paths"]
    assert "/api/v1/manage/me" in schema["paths"]


def test_interactive_docs_use_only_local_assets() -> None:
    html = Client().get("/api/v1/docs").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, "no assets found: the check is broken"
    outside = [a for a in assets if a.startswith(("http:", "https:", "//"))]
    assert outside == []
    for asset in assets:
        if asset.startswith("/static/"):
            assert Client().get(asset).status_code == 200, asset


def test_console_pages_send_a_same_origin_content_security_policy() -> None:
    response = Client().get("/console/login/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert not re.search(r"(default|script|style|font)-src[^;]*(https?:|//)", policy)
