"""Security headers on every kind of answer: the Content-Security-Policy chosen by
what the answer is, the Permissions-Policy, and no-store on API answers that name
someone (docs/decisions/0013-content-security-policy.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.test import Client
from django.urls import path

import miniops.urls
from miniops.api import api
from miniops.core.security_headers import NO_STORE
from miniops.testing import factories

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
STRICT = {
    "default-src": ["'none'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'none'"],
}


# --- a URLconf with a page that fails, one that is refused, and one with a nonce ------
def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the page broke")


def _refused(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def _inline_script(request: HttpRequest) -> HttpResponse:
    template = engines["django"].from_string(
        '<!DOCTYPE html><script nonce="{{ request.csp_nonce }}">document.title = "x"</script>'
    )
    return HttpResponse(template.render({}, request))


urlpatterns = [
    path("boom/", _boom),
    path("refused/", _refused),
    path("console/inline-script/", _inline_script),
    path("api/v1/boom", _boom),
    *miniops.urls.urlpatterns,
]
handler403 = miniops.urls.handler403
handler404 = miniops.urls.handler404
handler500 = miniops.urls.handler500


# --- helpers --------------------------------------------------------------------------
def policy(response: Any, header: str = "Content-Security-Policy") -> dict[str, list[str]]:
    assert header in response, f"no {header} on {response.status_code} {response['Content-Type']}"
    directives: dict[str, list[str]] = {}
    for part in response[header].split(";"):
        name, *sources = part.split()
        assert name not in directives, f"{name} twice in {response[header]}"
        directives[name] = sources
    return directives


def assert_document_policy(response: Any, *, console: bool, host: str = "ws://testserver") -> None:
    directives = policy(response)
    scripts = directives["script-src"]
    assert "'self'" in scripts
    assert "'unsafe-inline'" not in scripts
    assert not any(s in {"*", "http:", "https:", "data:"} for s in scripts)
    assert ("'unsafe-eval'" in scripts) is console
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["form-action"] == ["'self'"]
    # no bare scheme: a WebSocket or fetch may only go back to the page's own host
    assert directives["connect-src"] == (["'self'", host] if console else ["'self'"])
    for sources in directives.values():
        assert not {"ws:", "wss:", "https:", "*"} & set(sources)


def assert_permissions_policy(response: Any) -> None:
    features = dict(
        item.strip().split("=", 1) for item in response["Permissions-Policy"].split(",")
    )
    for feature in ("camera", "microphone", "geolocation", "payment", "usb", "serial"):
        assert features[feature] == "()", feature


# --- console pages ----------------------------------------------------------------------
def test_console_sign_in_page_allows_alpine_eval_and_its_own_websocket_only() -> None:
    response = Client().get("/console/login/")
    assert response.status_code == 200
    assert_document_policy(response, console=True)
    assert_permissions_policy(response)


def test_console_pages_of_a_signed_in_operator_carry_the_console_policy(
    console_as: Any,
) -> None:
    client = console_as("super_admin")
    paid = factories.order(paid=True)
    for url in (
        "/console/",
        "/console/orders/order/",
        f"/console/orders/order/{paid.pk}/change/",
        "/console/analytics/trends/",
        "/console/analytics/realtime/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_document_policy(response, console=True)
        assert_permissions_policy(response)
        # console pages show personal data: never stored (Django admin's never_cache)
        assert "no-store" in response["Cache-Control"], url


def test_console_websocket_source_follows_the_scheme_and_host_of_the_request(
    settings: Any,
) -> None:
    settings.ALLOWED_HOSTS = ["ops.example.com"]
    response = Client().get("/console/login/", secure=True, HTTP_HOST="ops.example.com")
    assert_document_policy(response, console=True, host="wss://ops.example.com")


def test_a_refused_host_gets_an_answer_with_no_websocket_source(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["ops.example.com"]
    response = Client().get("/console/login/", HTTP_HOST="evil.example.net")
    assert response.status_code == 400
    directives = policy(response)
    assert "evil" not in response["Content-Security-Policy"]
    assert directives["connect-src"] == ["'self'"]
    assert "'unsafe-eval'" in directives["script-src"]


@pytest.mark.urls(__name__)
def test_an_inline_script_runs_only_with_the_nonce_of_its_answer() -> None:
    response = Client().get("/console/inline-script/")
    nonce = re.search(r'nonce="([^"]+)"', response.content.decode()).group(1)  # type: ignore[union-attr]
    assert f"'nonce-{nonce}'" in policy(response)["script-src"]
    # and the next answer has another one
    again = Client().get("/console/inline-script/")
    assert f"'nonce-{nonce}'" not in policy(again)["script-src"]


def test_pages_without_an_inline_script_send_no_nonce() -> None:
    scripts = policy(Client().get("/console/login/"))["script-src"]
    assert not any(s.startswith("'nonce-") for s in scripts)


# --- API docs -------------------------------------------------------------------------
def test_api_docs_page_runs_only_our_own_scripts() -> None:
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    assert_document_policy(response, console=False)
    assert_permissions_policy(response)
    # the page needs no exception: its only inline <script> holds JSON settings
    html = response.content.decode()
    for attributes, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
        assert "src=" in attributes or 'type="application/json"' in attributes, attributes
        assert "src=" not in attributes or not body.strip()


# --- JSON answers ---------------------------------------------------------------------
def test_public_json_gets_the_strict_policy_and_keeps_its_caching() -> None:
    for url in ("/api/v1/categories", "/api/v1/products", "/api/v1/config"):
        response = Client().get(url)
        assert response.status_code == 200, url
        assert policy(response) == STRICT
        assert_permissions_policy(response)
        assert "no-store" not in response.get("Cache-Control", ""), url


def test_a_view_cannot_loosen_the_policy_of_a_json_answer(settings: Any) -> None:
    # the document policy is not the one a JSON answer gets, whatever it says
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["*"]}}
    assert policy(Client().get("/api/v1/categories")) == STRICT


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_member_answers_with_personal_data_are_never_stored() -> None:
    # given a member with an address, an order and an after-sale request
    case = factories.after_sale()
    person = case.order.member
    address = person.addresses.first()
    access, _refresh = factories.member_tokens(person)
    client = Client(**bearer(access))
    for url in (
        "/api/v1/me",
        "/api/v1/me/addresses",
        f"/api/v1/me/addresses/{address.pk}",
        "/api/v1/orders",
        f"/api/v1/orders/{case.order.pk}",
        "/api/v1/after-sales",
        f"/api/v1/after-sales/{case.pk}",
        "/api/v1/me/points",
    ):
        # when the member reads them
        response = client.get(url)
        # then they come back, and no browser or proxy may keep them
        assert response.status_code == 200, (url, response.content[:200])
        assert response["Cache-Control"] == NO_STORE, url
        assert policy(response) == STRICT
        assert_permissions_policy(response)


def test_a_public_read_with_a_member_token_is_not_stored_either() -> None:
    product = factories.product()
    access, _refresh = factories.member_tokens(factories.member())
    response = Client(**bearer(access)).get(f"/api/v1/products/{product.pk}")
    assert response.status_code == 200
    assert response["Cache-Control"] == NO_STORE
    # while the same page read anonymously may be cached
    assert "no-store" not in Client().get(f"/api/v1/products/{product.pk}").get("Cache-Control", "")


def test_management_answers_on_members_and_orders_are_never_stored() -> None:
    paid = factories.order(paid=True)
    operator = factories.operator_with_role("super_admin")
    _token, raw = factories.api_token(operator, ["members.view", "orders.view"])
    client = Client(**bearer(raw))
    for url in (
        "/api/v1/manage/members",
        f"/api/v1/manage/members/{paid.member.pk}",
        "/api/v1/manage/orders",
        f"/api/v1/manage/orders/{paid.pk}",
        "/api/v1/manage/after-sales",
        "/api/v1/manage/me",
    ):
        response = client.get(url)
        assert response.status_code == 200, (url, response.content[:200])
        assert response["Cache-Control"] == NO_STORE, url
        assert policy(response) == STRICT


def _operations() -> list[tuple[str, str, str]]:
    found = []
    for prefix, router in api._routers:
        for route, path_view in router.path_operations.items():
            for operation in path_view.operations:
                full = "/api/v1/" + "/".join(p.strip("/") for p in (prefix, route) if p.strip("/"))
                access = next(a.access for a in operation.auth_callbacks if hasattr(a, "access"))
                found.extend((method, full, access) for method in operation.methods)
    return found


def test_every_api_answer_to_a_caller_with_credentials_is_never_stored() -> None:
    # given a member token and a management token holding every permission
    access, _refresh = factories.member_tokens(factories.member())
    operator = factories.operator_with_role("super_admin")
    _token, raw = factories.api_token(operator)
    member_client, operator_client = Client(**bearer(access)), Client(**bearer(raw))
    checked = 0
    for method, route, access_kind in _operations():
        if method != "GET":
            continue
        client = operator_client if route.startswith("/api/v1/manage/") else member_client
        # when each read is called with credentials (ids that may not exist: the rule
        # does not depend on the answer)
        response = client.get(re.sub(r"\{\w+\}", "1", route))
        # then the answer may not be stored
        assert response["Cache-Control"] == NO_STORE, (route, access_kind, response.status_code)
        checked += 1
    assert checked >= 30, "the route walker found too few reads"


def test_writes_are_never_stored_even_anonymous_ones() -> None:
    # a sign-in answer carries tokens and is made by a caller without any
    response = Client().post(
        "/api/v1/auth/wechat-login", {"code": "alice"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert "access_token" in response.json()
    assert response["Cache-Control"] == NO_STORE


def test_a_bad_token_is_answered_without_storing_the_answer() -> None:
    response = Client(**bearer("ma1.nonsense")).get("/api/v1/me")
    assert response.status_code == 401
    assert response["Cache-Control"] == NO_STORE
    assert policy(response) == STRICT


def test_answers_reshaped_into_the_error_shape_keep_their_headers() -> None:
    # ninja's own 405 becomes the shared error shape outside the view
    response = Client().delete("/api/v1/categories")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert policy(response) == STRICT
    assert_permissions_policy(response)
    assert response["Cache-Control"] == NO_STORE


# --- error pages ----------------------------------------------------------------------
def test_a_missing_page_is_html_with_the_document_policy() -> None:
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert_document_policy(response, console=False)
    assert_permissions_policy(response)


def test_a_missing_api_route_is_json_with_the_strict_policy() -> None:
    response = Client().get("/api/v1/no-such-route")
    assert response.status_code == 404
    assert policy(response) == STRICT
    assert_permissions_policy(response)


def test_a_console_page_the_role_may_not_open_is_refused_with_the_console_policy(
    console_as: Any,
) -> None:
    response = console_as("customer_service").get("/console/accounts/operator/")
    assert response.status_code == 403
    assert b"permission-denied" in response.content
    assert_document_policy(response, console=True)
    assert_permissions_policy(response)


@pytest.mark.urls(__name__)
def test_a_refused_page_outside_the_console_gets_the_document_policy() -> None:
    response = Client().get("/refused/")
    assert response.status_code == 403
    assert_document_policy(response, console=False)


@pytest.mark.urls(__name__)
def test_a_failing_page_and_a_failing_api_call_keep_their_headers() -> None:
    client = Client(raise_request_exception=False)
    page = client.get("/boom/")
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")
    assert_document_policy(page, console=False)
    assert_permissions_policy(page)
    call = client.get("/api/v1/boom")
    assert call.status_code == 500
    assert call.json()["error"]["code"] == "internal_error"
    assert policy(call) == STRICT
    assert_permissions_policy(call)


# --- files ------------------------------------------------------------------------------
def test_static_files_get_the_strict_policy() -> None:
    response = Client().get("/static/analytics/realtime.js")
    assert response.status_code == 200
    assert policy(response) == STRICT
    assert_permissions_policy(response)


def test_a_not_modified_answer_leaves_the_kept_policy_alone() -> None:
    first = Client().get("/static/analytics/realtime.js")
    again = Client().get("/static/analytics/realtime.js", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert "Content-Security-Policy" not in again
    assert_permissions_policy(again)


# --- report-only trials -----------------------------------------------------------------
def test_report_only_mode_sends_the_same_policies_as_reports(settings: Any) -> None:
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = settings.CONTENT_SECURITY_POLICY
    settings.CONTENT_SECURITY_POLICY = None
    page = Client().get("/console/login/")
    assert "Content-Security-Policy" not in page
    scripts = policy(page, "Content-Security-Policy-Report-Only")["script-src"]
    assert "'unsafe-eval'" in scripts
    assert "'unsafe-inline'" not in scripts
    # JSON keeps its strict policy enforced: it can break nothing
    data = Client().get("/api/v1/categories")
    assert policy(data) == STRICT
    assert "Content-Security-Policy-Report-Only" not in data


# --- configuration ----------------------------------------------------------------------
def settings_with(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh process with ``env``; print both policies."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MINIOPS_CSP", "S3_"))}
    clean.pop("MEDIA_STORAGE", None)
    clean.update(env)
    code = (
        "import json, miniops.settings as s; print(json.dumps(default=str, obj="
        "[s.CONTENT_SECURITY_POLICY, getattr(s, 'CONTENT_SECURITY_POLICY_REPORT_ONLY', None)]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def policies(env: dict[str, str]) -> tuple[Any, Any]:
    result = settings_with(env)
    assert result.returncode == 0, result.stderr
    enforced, report_only = json.loads(result.stdout)
    return enforced, report_only


def img_sources(env: dict[str, str]) -> list[str]:
    enforced, _report_only = policies(env)
    sources: list[str] = enforced["DIRECTIVES"]["img-src"]
    return sources


def test_object_storage_media_host_is_allowed_for_images() -> None:
    s3 = {"MEDIA_STORAGE": "s3", "S3_BUCKET": "shop"}
    custom = img_sources({**s3, "S3_CUSTOM_DOMAIN": "media.example.com"})
    assert "https://media.example.com" in custom
    endpoint = img_sources({**s3, "S3_ENDPOINT_URL": "https://oss.example.com:9000/x"})
    assert "https://oss.example.com:9000" in endpoint
    aws = img_sources({**s3, "S3_REGION": "ap-east-1"})
    assert "https://shop.s3.amazonaws.com" in aws
    assert "https://shop.s3.ap-east-1.amazonaws.com" in aws
    local = img_sources({})
    assert not any("example.com" in s or "amazonaws" in s for s in local)


def test_extra_image_hosts_come_from_the_environment_and_must_be_origins() -> None:
    sources = img_sources({"MINIOPS_CSP_IMG_HOSTS": "https://cdn.example.com/"})
    assert "https://cdn.example.com" in sources
    assert "https://thirdwx.qlogo.cn" not in sources  # the list replaces the default
    for bad in ("*", "https:", "cdn.example.com", "https://cdn.example.com/path"):
        result = settings_with({"MINIOPS_CSP_IMG_HOSTS": bad})
        assert result.returncode != 0, bad
        assert "MINIOPS_CSP_IMG_HOSTS" in result.stderr


def test_report_only_mode_and_report_uri_come_from_the_environment() -> None:
    enforced, report_only = policies(
        {"MINIOPS_CSP_REPORT_ONLY": "1", "MINIOPS_CSP_REPORT_URI": "https://r.example.com/csp"}
    )
    assert enforced is None
    assert report_only["DIRECTIVES"]["report-uri"] == ["https://r.example.com/csp"]
    enforced, report_only = policies({})
    assert report_only is None
    assert "report-uri" not in enforced["DIRECTIVES"]
