"""The console and the API docs under the final Content-Security-Policy, enforced:
the super admin walks the home page, a model list, a change form and its dialog
action, an analytics chart and the live monitor, and the browser reports no
violation — while what the policy is there to stop is stopped."""

from __future__ import annotations

from typing import Any

import pytest
from django_otp.oath import totp

from miniops.orders.models import Order, OrderStatus
from miniops.testing import factories

from .conftest import screenshot
from .test_console_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every violation the page sees, as the event reports it (the page's own code may
# catch the error; the event fires anyway).
WATCH_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  console.error(`CSP violation: ${e.effectiveDirective} ${e.blockedURI} at ${where}`);
});
"""


class Violations:
    """CSP violations reported in the page console, page by page."""

    def __init__(self, page: Any) -> None:
        self.found: list[str] = []
        page.context.add_init_script(WATCH_VIOLATIONS)
        page.on("console", self._seen)

    def _seen(self, message: Any) -> None:
        text = message.text
        if text.startswith("CSP violation:") or "Content Security Policy" in text:
            self.found.append(text)

    def take(self) -> list[str]:
        found, self.found = self.found, []
        return found


def enforced_policy(response: Any) -> str:
    headers = response.all_headers()
    assert "content-security-policy-report-only" not in headers
    policy: str = headers["content-security-policy"]
    return policy


def test_super_admin_uses_the_console_under_the_enforced_policy_without_violations(
    page: Any, live_server: Any
) -> None:
    base = live_server.url
    host = base.split("://", 1)[1]
    violations = Violations(page)
    # given a super admin with an authenticator, a paid order and a member whose
    # avatar lives on a host the console does not trust
    admin = factories.operator_with_role("super_admin", username="root", display_name="王总")
    device = factories.totp_device(admin)
    paid = factories.order(paid=True)
    paid.member.avatar_url = "https://tracker.example.net/pixel.png"
    paid.member.save(update_fields=["avatar_url"])

    # when they sign in with password and code
    sign_in(page, base, "root")
    page.wait_for_url("**/console/2fa/verify/**")
    page.fill("#id_token", f"{totp(device.bin_key, step=device.step, t0=device.t0):06d}")
    page.click("#totp-verify-form button[type=submit]")
    page.wait_for_url(f"{base}/console/")
    page.wait_for_selector("#dashboard [data-widget=welcome]")
    # then the home page ran under the console policy, with nothing refused
    home = page.reload()
    policy = enforced_policy(home)
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert f"connect-src 'self' ws://{host}" in policy
    page.wait_for_selector("#dashboard [data-widget=welcome]")
    # Alpine ran its expressions: the user menu opens on click
    page.click("text=王总")
    page.wait_for_selector("form:has(input[name=language]) button", state="visible")
    screenshot(page, "csp-01-home")
    assert violations.take() == []

    # when they open the members list
    enforced_policy(page.goto(f"{base}/console/members/member/"))
    page.wait_for_selector("#result_list")
    # then the avatar from the untrusted host is the one thing refused
    page.wait_for_timeout(300)
    refused = violations.take()
    assert refused, "the untrusted avatar was not refused: img-src is too wide"
    assert all("tracker.example.net" in v or "img-src" in v for v in refused), refused

    # when they open the paid order and ship it from its dialog
    enforced_policy(page.goto(f"{base}/console/orders/order/{paid.pk}/change/"))
    page.click("a[hx-get$='/ship/']")
    page.wait_for_selector("#dialog #id_tracking_no", state="visible")
    page.select_option("#dialog #id_carrier", "SF")
    page.fill("#dialog #id_tracking_no", "SF1234567890")
    screenshot(page, "csp-02-ship-dialog")
    with page.expect_navigation():
        page.click("#dialog button[type=submit]")
    # then the order is shipped, through the htmx dialog and its redirect
    page.wait_for_selector("text=SF1234567890")
    assert Order.objects.get(pk=paid.pk).status == OrderStatus.SHIPPED
    assert violations.take() == []

    # when they open the trends chart
    enforced_policy(page.goto(f"{base}/console/analytics/trends/"))
    # then Chart.js drew it
    page.wait_for_function(
        "() => { const c = document.querySelector('canvas');"
        " return c && window.Chart && Chart.getChart(c) !== undefined; }"
    )
    screenshot(page, "csp-03-trends")
    assert violations.take() == []

    # when they open the live monitor
    enforced_policy(page.goto(f"{base}/console/analytics/realtime/"))
    # then it fetched its figures and redrew
    page.wait_for_function("document.getElementById('realtime-updated').textContent !== ''")
    assert page.inner_text("[data-total=visitors]").strip() != "—"
    # and the console's WebSocket may reach its own host, and no other
    page.evaluate(
        """(url) => new Promise((done) => {
            const socket = new WebSocket(url);
            socket.onopen = socket.onerror = socket.onclose = () => done();
        })""",
        f"ws://{host}/ws/console/",
    )
    assert violations.take() == []
    page.evaluate("() => { try { new WebSocket('ws://elsewhere.example.net/ws/'); } catch (e) {} }")
    page.wait_for_timeout(300)
    refused = violations.take()
    assert any("elsewhere.example.net" in v for v in refused), refused
    screenshot(page, "csp-04-realtime")

    # and an injected inline script would not run
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.injected = true'; document.body.append(s); }"
    )
    assert page.evaluate("() => window.injected === undefined")
    assert any("script-src" in v for v in violations.take())


def test_api_docs_work_under_their_policy_without_violations(page: Any, live_server: Any) -> None:
    violations = Violations(page)
    page.set_default_timeout(60_000)  # Swagger UI is a 1.4 MB script to parse
    # when a developer opens the API docs and tries a call
    response = page.goto(f"{live_server.url}/api/v1/docs")
    policy = enforced_policy(response)
    assert "'unsafe-eval'" not in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    page.click(".opblock-summary:has([data-path='/api/v1/config'])")
    page.click("button.try-out__btn")
    page.click("button.execute")
    # then Swagger UI ran and showed the answer
    status = page.wait_for_selector(".live-responses-table tbody .response-col_status")
    assert status.inner_text().strip().startswith("200")
    screenshot(page, "csp-05-api-docs")
    assert violations.take() == []
    assert page.outside_requests == []
