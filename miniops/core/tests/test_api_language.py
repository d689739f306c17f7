"""An API error speaks one language per request: the one asked for with
``Accept-Language``, else the shop's ``LANGUAGE_CODE``."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _bad_login(**headers: str) -> dict[str, object]:
    response = Client(**headers).post(
        "/api/v1/auth/wechat-login", {"nope": 1}, content_type="application/json"
    )
    assert response.status_code == 422
    return response.json()["error"]


def test_validation_errors_follow_accept_language() -> None:
    english = _bad_login(HTTP_ACCEPT_LANGUAGE="en")
    chinese = _bad_login(HTTP_ACCEPT_LANGUAGE="zh-CN")
    default = _bad_login()
    assert english["message"] == "Some fields are invalid."
    assert set(english["fields"].values()) <= {
        "This field is required.",
        "This field is not expected here.",
    }
    assert chinese["message"] == default["message"] != english["message"]
    for text in [chinese["message"], *chinese["fields"].values()]:
        assert not any("a" <= ch.lower() <= "z" for ch in str(text)), text
