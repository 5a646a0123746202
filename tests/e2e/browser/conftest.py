"""The console in a real browser: Playwright drives Debian's Chromium against the local stack.

The browser tests share the e2e stack of their pytest worker (group `e2e`: one stack per worker,
no second one to start), which serves the built console (console/dist) at `/` beside the API.
One Chromium per worker, one fresh browser context per test (no cookies, no sessionStorage kept:
the admin token never outlives a test). Each test saves screenshots of the pages it opened under
tests/e2e/browser/artifacts/ (git-ignored); the paths are printed at the end of the run.

Playwright's own browser download is not reachable here: Chromium comes from the system
(`apt-get install chromium`, which `.ci/run` does when it is missing), or from $CDP_CHROMIUM.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect, sync_playwright

from tests.e2e.browser.seed import Person, seed_amy
from tests.e2e.conftest import ADMIN_TOKEN, ROOT, Stack

CHROMIUM = Path(os.environ.get("CDP_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # root in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # no calls home: nothing outside the local stack is reachable
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CONSOLE_DIST = ROOT / "console" / "dist"
TIMEOUT_MS = 20_000  # a report on a busy 2-core machine (the other worker runs its own stack)
LANG_KEY = "cdp.console.lang"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (.ci/run does), or set CDP_CHROMIUM",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def console_url(stack_url: str) -> str:
    if not (CONSOLE_DIST / "index.html").exists():
        pytest.fail(f"the console is not built ({CONSOLE_DIST}): run `make console`", pytrace=False)
    index = requests.get(f"{stack_url}/", timeout=10)
    assert index.status_code == 200, f"the stack does not serve the console at /: {index.status_code}"
    assert index.headers["Content-Type"].startswith("text/html"), index.headers["Content-Type"]
    return f"{stack_url}/"


@pytest.fixture(scope="session")
def amy(stack: Stack) -> Person:
    """S1's Amy (POS phone, web email, LINE friend), made once per worker through the real APIs."""
    return seed_amy(stack)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


class Console:
    """One signed-out browser tab on the console, with the helpers the tests share."""

    def __init__(self, page: Page, url: str, test_name: str, node: pytest.Item) -> None:
        self.page = page
        self.url = url
        self._test = test_name
        self._node = node
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def sign_in(self, token: str = ADMIN_TOKEN) -> None:
        self.page.goto(self.url)
        self.page.get_by_test_id("signin-token").fill(token)
        self.page.get_by_test_id("signin-submit").click()
        expect(self.page.get_by_test_id("nav")).to_be_visible()

    def open(self, page_id: str, *params: str, query: str = "") -> Locator:
        """Go to a console page through its nav link (params/query: through the hash route)."""
        if params or query:
            path = "/".join([page_id, *params])
            self.page.evaluate("hash => { location.hash = hash }", f"#/{path}{'?' + query if query else ''}")
        else:
            self.page.get_by_test_id(f"nav-{page_id}").click()
        main = self.page.get_by_test_id(f"page-{page_id}")
        expect(main).to_be_visible()
        return main

    def shot(self, name: str) -> Path:
        """A full-page screenshot, saved as a test artifact and printed at the end of the run."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self._node.user_properties.append(("screenshot", str(path.relative_to(ROOT))))
        return path

    def note(self, name: str, value: Any) -> None:
        """A measurement, printed at the end of the run (pytest_terminal_summary in tests/conftest.py)."""
        self._node.user_properties.append((name, value))


@pytest.fixture
def console(chromium: Browser, console_url: str, request: pytest.FixtureRequest) -> Iterator[Console]:
    """A fresh browser context (nothing kept from another test), the console in English."""
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, locale="en-US", timezone_id="Asia/Taipei")
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(f"try {{ localStorage.setItem('{LANG_KEY}', 'en') }} catch (e) {{}}")
    expect.set_options(timeout=TIMEOUT_MS)
    tab = Console(context.new_page(), console_url, request.node.name, request.node)
    try:
        yield tab
        assert tab.page_errors == [], f"uncaught errors in the page: {tab.page_errors}"
    finally:
        if request.node.stash.get(_FAILED, False):
            tab.shot(f"FAILED-{request.node.name}")
        context.close()


# The chart wrapper's palette (console/src/components/Chart.jsx), less its grey: axes, grid lines
# and labels are grey or black, so only drawn data paints pixels in these colours.
SERIES_COLOURS = ["#06c755", "#2f6fde", "#f59f00", "#e8590c", "#7048e8", "#0ca678", "#d6336c"]


def data_pixels(chart: Locator) -> int:
    """How many pixels of a chart's canvas show data (a series colour): 0 for an empty canvas, and
    0 for a chart that drew only its axes."""
    painted: int = chart.locator("canvas").evaluate(
        """(canvas, colours) => {
            const rgb = colours.map(c => [1, 3, 5].map(i => parseInt(c.slice(i, i + 2), 16)));
            const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 0; i < data.length; i += 4) {
                if (data[i + 3] < 128) continue;
                if (rgb.some(([r, g, b]) => Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 40)) painted++;
            }
            return painted;
        }""",
        SERIES_COLOURS,
    )
    return painted
