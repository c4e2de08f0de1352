"""Live behaviour in headless Chromium: auto-refresh, planted markup, layout and screenshot."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer, Watch
from tests.browser.demo import seed_demo

pytestmark = pytest.mark.browser


def poll(page: Any, condition: Any, timeout: float = 10.0) -> None:
    """Let the page run until ``condition()`` holds (events reach Python meanwhile)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        page.wait_for_timeout(50)


def fragment_requests(watch: Watch, origin: str) -> int:
    return sum(
        1 for url in watch.requests if url.startswith(origin + "/flare") and "/static/" not in url
    )


def test_auto_refresh_shows_a_new_error_without_reloading(
    page: Any, live: LiveServer, watch: Watch
) -> None:
    seed_demo(live)
    page.goto(live.origin + "/flare")
    toggle = page.get_by_label("Auto-refresh")
    expect(toggle).not_to_be_checked()
    page.evaluate("window.__sameDocument = true")
    toggle.check()
    httpx.get(live.origin + "/boom", timeout=10)
    first = page.locator("#results a.row-link").first
    expect(first).to_have_text("kaboom from the live server")
    expect(page.locator("[data-card=errors_24h] .card-value")).to_have_text("31")
    assert page.evaluate("window.__sameDocument") is True

    page.reload()
    expect(page.get_by_label("Auto-refresh")).to_be_checked()  # remembered per browser

    # While the tab is hidden nothing is polled; becoming visible refreshes at once.
    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'})"
    )
    before = fragment_requests(watch, live.origin)
    page.wait_for_timeout(1500)  # three poll intervals
    assert fragment_requests(watch, live.origin) == before
    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'visible'});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    poll(page, lambda: fragment_requests(watch, live.origin) > before)

    page.get_by_label("Auto-refresh").uncheck()
    quiet = fragment_requests(watch, live.origin)
    page.wait_for_timeout(1500)
    assert fragment_requests(watch, live.origin) == quiet


XSS = '<script>window.__xss=1</script>"><img src=x onerror="window.__xss=1">\'><svg onload="window.__xss=1">'


def test_planted_markup_never_runs(page: Any, live: LiveServer) -> None:
    from fastapi_flare.schema import FlareLogEntry, FlareRequestEntry

    now = datetime.now(UTC)
    live.add_logs(
        [
            FlareLogEntry(
                timestamp=now,
                level="ERROR",
                event="evt" + XSS,
                message="msg" + XSS,
                error="err" + XSS,
                stack_trace=f'Traceback (most recent call last):\n  File "{XSS}", line 1, in x\nValueError: {XSS}',
                request_id="rid" + XSS,
                endpoint="/e" + XSS,
                route="/r" + XSS,
                http_method="GET",
                http_status=500,
                ip_address="ip" + XSS,
                user_agent="ua" + XSS,
                context={"key" + XSS: "value" + XSS},
                request_body={"body" + XSS: XSS},
            )
        ]
    )
    live.add_requests(
        [
            FlareRequestEntry(
                timestamp=now,
                method="GET",
                path="/p" + XSS,
                route="/r" + XSS,
                status=500,
                duration_ms=5,
                request_id="rid" + XSS,
                headers={"x-header" + XSS: "value" + XSS},
            )
        ]
    )
    # A real request through the capture path, with markup in its headers.
    httpx.get(
        live.origin + "/boom",
        headers={"X-Request-ID": "id" + XSS, "User-Agent": "ua" + XSS},
        timeout=10,
    )
    deadline = time.monotonic() + 10
    while live.runtime.queue.written < 2:  # the error and its tracked request
        assert time.monotonic() < deadline, "the captured error was not written"
        time.sleep(0.02)

    page.goto(live.origin + "/flare")
    expect(page.locator("#results tr[data-row]")).to_have_count(2)
    page.locator("a.row-link", has_text="msg<script>").click()
    dialog = page.locator("dialog[data-modal]")
    expect(dialog.locator("[data-field=message]")).to_have_text("msg" + XSS)
    expect(dialog.locator("[data-field=request_id]")).to_have_text("rid" + XSS)
    expect(dialog.locator("[data-field=context]")).to_contain_text("key<script>")
    page.keyboard.press("Escape")
    page.locator("a.row-link", has_text="kaboom").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("ua<script>")
    page.keyboard.press("Escape")
    page.goto(live.origin + "/flare?q=" + quote(XSS, safe="") + "&route=" + quote(XSS, safe=""))
    expect(page.get_by_label("Search", exact=True)).to_have_value(XSS)
    page.goto(live.origin + "/flare/requests")
    page.locator("a.row-link", has_text="/p<script>").click()
    expect(dialog.locator("[data-field=headers]")).to_contain_text("x-header<script>")
    page.goto(live.origin + "/flare/logs/1")
    expect(page.locator("[data-field=message]")).to_have_text("msg" + XSS)

    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src=x], svg[onload], script:not([src])").count() == 0


def test_layout_fits_a_1280px_screen(browser: Any, live: LiveServer, tmp_path: Path) -> None:
    """No horizontal scrolling at 1280 px; FLARE_SCREENSHOT=path saves the README screenshot."""
    seed_demo(live)
    with httpx.Client(base_url=live.origin, timeout=10) as client:
        for _ in range(40):  # some real traffic for the latency and error-rate cards
            assert client.get("/").status_code == 200
    context = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
    try:
        page = context.new_page()
        for path in ("/flare", "/flare/requests", "/flare/logs/1"):
            page.goto(live.origin + path)
            expect(page.locator("main")).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280, path
        page.set_viewport_size({"width": 1440, "height": 900})
        deadline = time.monotonic() + 5
        while True:  # rollups are flushed in the background; give them a moment
            page.goto(live.origin + "/flare")
            latency = page.locator("[data-card=p95_24h] .card-value")
            if time.monotonic() > deadline or latency.count() == 0:
                break
            if latency.first.inner_text().strip() not in ("—", ""):
                break
            page.wait_for_timeout(200)
        expect(page.locator("#results tr[data-row]")).to_have_count(50)
        target = Path(os.environ.get("FLARE_SCREENSHOT") or tmp_path / "screenshot.png")
        page.screenshot(path=str(target))
        assert target.stat().st_size > 10_000
    finally:
        context.close()
