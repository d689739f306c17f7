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


def test_a_wrong_method_answers_in_the_language_asked_for() -> None:
    english = Client(HTTP_ACCEPT_LANGUAGE="en").delete("/api/v1/config")
    chinese = Client(HTTP_ACCEPT_LANGUAGE="zh-CN").delete("/api/v1/config")
    assert english.status_code == chinese.status_code == 405
    assert english.json()["error"]["message"] == "This method is not allowed here."
    message = chinese.json()["error"]["message"]
    assert message != english.json()["error"]["message"]
    assert not any("a" <= ch.lower() <= "z" for ch in message), message
