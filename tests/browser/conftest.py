"""Playwright driving Debian's Chromium against the live test server.

Browser downloads do not work on our machines: the tests use /usr/bin/chromium
(``apt-get install chromium``; ``.ci/run`` installs it). Without it they skip,
unless MINIOPS_REQUIRE_BROWSER=1 (set by CI), where a missing browser fails.
Screenshots land in ``test-artifacts/`` for people to look at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("MINIOPS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


# Module scope: Playwright's sync API keeps an event loop running in this thread
# while it is open, which would break later tests that start their own loop.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("MINIOPS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    # Playwright's sync API runs an event loop in this thread; Django's ORM, used
    # by the tests to prepare data, refuses to run under one unless told it is safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    # Generous: CI shares two cores with other work; a wait that long only ever
    # costs time when something is really broken.
    page.set_default_timeout(45_000)
    outside: list[str] = []

    def watch(request: Any) -> None:
        if not request.url.startswith((live_server.url, "data:", "blob:")):
            outside.append(request.url)

    page.on("request", watch)
    page.outside_requests = outside  # every request must stay on our server
    yield page
    context.close()


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def open_picker(page: Any, field_id: str) -> None:
    """Open the search-as-you-type picker (select2) of ``<select id=field_id>``
    (one click)."""
    page.click(f"#{field_id} ~ .select2 .select2-selection")
    page.wait_for_selector(".select2-container--open .select2-search__field")


def wait_for_answers(page: Any, term: str) -> None:
    """Until the picker shows the answers to ``term`` (each naming it), not the
    list it showed before the search or “Searching…”."""
    page.wait_for_function(
        """term => {
            const shown = [...document.querySelectorAll(".select2-results__option")];
            return shown.length > 0 && shown.every(
                o => o.textContent.toLowerCase().includes(term.toLowerCase()));
        }""",
        arg=term,
    )


def type_and_pick(page: Any, term: str, expect: str) -> None:
    """In the open picker: type ``term``, wait for the answer ``expect`` and take
    it with Enter (typing, no click)."""
    page.fill(".select2-container--open .select2-search__field", term)
    wait_for_answers(page, term)
    page.wait_for_selector(f".select2-results__option:text-is('{expect}')")
    page.hover(f".select2-results__option:text-is('{expect}')")
    page.keyboard.press("Enter")
    page.wait_for_selector(".select2-container--open", state="detached")


def pick(page: Any, field_id: str, term: str, expect: str) -> None:
    """Open the picker, type, take the answer."""
    open_picker(page, field_id)
    type_and_pick(page, term, expect)
