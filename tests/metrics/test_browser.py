"""The Metrics view in headless Chromium: charts render, links swap, nothing errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LiveServer
from tests.conftest import CHROMIUM_ARGS, CHROMIUM_PATH, unavailable
from tests.metrics.apps import flare_app
from tests.metrics.conftest import Backend
from tests.metrics.test_view import TRAFFIC, seed

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright (never a downloaded browser)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable(f"Playwright is not installed: {exc}")
    if not Path(CHROMIUM_PATH).exists():
        unavailable(f"Chromium not found at {CHROMIUM_PATH}")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
    except Exception as exc:
        playwright.stop()
        unavailable(f"Chromium cannot start: {exc}")
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    app, runtime = flare_app(Backend("sqlite", tmp_path), worker_interval_seconds=0.1)
    live = LiveServer(app, runtime)
    live.start()
    try:
        live.call(seed(runtime, TRAFFIC))
        yield live
    finally:
        live.stop()


@pytest.fixture
def tab(chromium: Any, server: LiveServer) -> Iterator[Any]:
    """A page whose console errors, page errors and outside requests fail the test."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "request",
        lambda r: None if r.url.startswith(server.origin + "/") else problems.append(r.url),
    )
    page.set_default_timeout(10_000)
    try:
        yield page
        assert problems == []
    finally:
        context.close()


def test_charts_render_as_svg_with_hover_titles(tab: Any, server: LiveServer) -> None:
    tab.goto(server.origin + "/flare/metrics")
    charts = tab.locator("figure.m-chart svg.m-svg")
    assert charts.count() == 3
    for i in range(3):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 400 and box["height"] > 100
    assert tab.locator('figure[data-chart="requests"] rect[data-series="5xx"]').count() == 1
    assert tab.locator('figure[data-chart="latency"] [data-series="p99"]').count() >= 1
    title = tab.locator('figure[data-chart="errors"] rect.m-hover title').last.text_content()
    assert "5xx 1.4 %" in title and "of 145 requests" in title
    # The stylesheet loaded under the CSP: the charts sit in a grid.
    assert tab.evaluate("getComputedStyle(document.querySelector('.m-charts')).display") == "grid"
    bar = tab.locator('figure[data-chart="requests"] rect[data-series="ok"]').first.bounding_box()
    assert bar is not None and bar["height"] > 20


def test_range_sort_and_route_links_work_in_the_browser(tab: Any, server: LiveServer) -> None:
    tab.goto(server.origin + "/flare/metrics")
    tab.get_by_role("link", name="Last hour").click()
    tab.wait_for_url("**/flare/metrics?range=1h")
    assert 61 <= tab.locator('figure[data-chart="requests"] rect.m-hover').count() <= 65
    assert tab.locator("nav.m-ranges a[aria-current]").text_content() == "Last hour"

    tab.locator('th[data-sort="p95"] a').click()
    tab.wait_for_url("**/flare/metrics?range=1h&sort=p95")
    assert tab.locator("#routes tbody tr").first.get_attribute("data-route") == "/orders"
    assert tab.locator('th[data-sort="p95"]').get_attribute("aria-sort") == "descending"

    tab.go_back()
    tab.wait_for_url("**/flare/metrics?range=1h")
    tab.locator('#routes tr[data-route="/items/{item_id}"] a.row-link').click()
    tab.wait_for_url("**/flare?route=*")
    assert "/items/{item_id}" in tab.locator(".chips").text_content()
