"""The console in a real browser: sign-in with TOTP, language switch, dashboard,
and a page the role may not open."""

from __future__ import annotations

from typing import Any

import pytest
from django_otp.oath import totp

from miniops.testing import factories
from miniops.testing.factories import TEST_PASSWORD

from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/console/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-form button[type=submit]")


def test_operations_staff_signs_in_with_totp_switches_language_and_sees_dashboard(
    page: Any, live_server: Any
) -> None:
    # given an operations-staff operator with an authenticator
    operator = factories.operator_with_role("ops_staff", username="opsstaff", display_name="张运营")
    device = factories.totp_device(operator)
    # when they sign in with their password
    sign_in(page, live_server.url, "opsstaff")
    # then the console asks for their code
    page.wait_for_url("**/console/2fa/verify/**")
    screenshot(page, "01-totp-step")
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=6):06d}"
    page.fill("#id_token", code)
    page.click("#totp-verify-form button[type=submit]")
    # and, after it, the dashboard (in Chinese, the default)
    page.wait_for_url(f"{live_server.url}/console/")
    page.wait_for_selector("#dashboard [data-widget=welcome]")
    assert "张运营" in page.inner_text("#dashboard")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    screenshot(page, "02-dashboard-zh")

    # when they switch the language to English from the user menu
    page.click("text=张运营")
    page.click("form:has(input[name=language][value=en]) button")
    # then the console is in English
    page.wait_for_selector("html[lang=en]")
    page.wait_for_selector("#dashboard [data-widget=welcome]")
    assert "Hello" in page.inner_text("[data-widget=welcome]")
    screenshot(page, "03-dashboard-en")

    # and the sidebar offers nothing an operations-staff role may not open
    sidebar_links = page.eval_on_selector_all(
        "#nav-sidebar a, nav a", "els => els.map(e => e.getAttribute('href'))"
    )
    assert not any("/accounts/operator/" in (href or "") for href in sidebar_links)
    # and nothing was fetched from outside our own server (no CDN)
    assert page.outside_requests == []


def test_customer_service_cannot_reach_a_forbidden_page(page: Any, live_server: Any) -> None:
    # given a customer-service operator, signed in
    factories.operator_with_role("customer_service", username="service")
    sign_in(page, live_server.url, "service")
    page.wait_for_url(f"{live_server.url}/console/")
    # when they type the address of the operator list
    response = page.goto(f"{live_server.url}/console/accounts/operator/")
    # then the server refuses it
    assert response.status == 403
    assert page.locator("#permission-denied").is_visible()
    screenshot(page, "04-forbidden")
    # and the system-settings page too
    assert page.goto(f"{live_server.url}/console/core/systemsettings/").status == 403
    # and its way back is legible: the button's text stands out from its own fill
    contrast = page.eval_on_selector(
        "a[href='/console/']:has-text('控制台')",
        """el => {
            const rgb = s => (s.match(/[\\d.]+/g) || []).slice(0, 4).map(Number);
            const lum = ([r, g, b]) => {
                const f = c => {
                    c /= 255;
                    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
                };
                return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
            };
            const style = getComputedStyle(el);
            const bg = rgb(style.backgroundColor);
            if (bg.length === 4 && bg[3] === 0) return 0;  // transparent: no fill at all
            const [a, b] = [lum(rgb(style.color)), lum(bg)].sort((x, y) => y - x);
            return (a + 0.05) / (b + 0.05);
        }""",
    )
    assert contrast >= 3, contrast
