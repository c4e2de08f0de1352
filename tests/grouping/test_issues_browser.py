"""The Issues tab in headless Chromium: bulk-resolve two issues, then watch one regress."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from playwright.sync_api import expect

from fastapi_flare import FlareConfig, setup
from fastapi_flare.grouping import issue_store
from fastapi_flare.grouping.model import IssueQuery
from fastapi_flare.grouping.store import IssueStore
from fastapi_flare.schema import LogQuery
from tests.browser.conftest import FAST_REFRESH, LiveServer, Watch
from tests.conftest import CHROMIUM_ARGS, CHROMIUM_PATH, PG_DSN, unavailable
from tests.grouping.conftest import drop_pg_tables, pg_reachable

pytestmark = pytest.mark.browser
T = TypeVar("T")
BACKENDS = [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres)]


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a thread of its own.

    Playwright's sync API keeps an event loop in this thread, so asyncio.run()
    cannot be used here directly.
    """
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(60)


def shop(options: dict[str, Any]) -> tuple[FastAPI, Any]:
    """A host app with three distinct failures."""
    app = FastAPI()

    @app.get("/checkout/{order_id}")
    async def checkout(order_id: int) -> None:
        raise RuntimeError(f"payment for order {order_id} declined")

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> None:
        raise HTTPException(404, f"Item {item_id} not found")

    @app.get("/report")
    async def report() -> None:
        raise ValueError("report template missing")

    return app, setup(app, FlareConfig(worker_interval_seconds=0.1, **options))


@pytest.fixture(params=BACKENDS)
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    """The shop under uvicorn on 127.0.0.1, on SQLite or PostgreSQL."""
    table = f"gb_{secrets.token_hex(4)}"
    if request.param == "postgresql":
        if not run_async(pg_reachable()):
            unavailable(f"PostgreSQL is not reachable at {PG_DSN}")
        options = {"storage_backend": "postgresql", "pg_dsn": PG_DSN, "pg_table_name": table}
    else:
        options = {"sqlite_path": str(tmp_path / "flare.db")}
    server = LiveServer(*shop(options))
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if request.param == "postgresql":
            run_async(drop_pg_tables(table))


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium; skipped locally (failed in CI) when it cannot start."""
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
def page(chromium: Any, live: LiveServer) -> Iterator[Any]:
    """A fresh browser tab whose traffic, dialogs and console errors are recorded."""
    watch = Watch()
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.on("request", lambda request: watch.requests.append(request.url))
    tab = context.new_page()
    tab.on("dialog", lambda dialog: (watch.dialogs.append(dialog.message), dialog.dismiss()))
    tab.on("console", lambda m: watch.console_errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda error: watch.page_errors.append(str(error)))
    tab.set_default_timeout(15_000)
    try:
        yield tab
        watch.assert_clean(live.origin)  # no request left 127.0.0.1, no CSP violation
    finally:
        context.close()


def store_of(live: LiveServer) -> IssueStore:
    store = issue_store(live.runtime.storage)
    assert store is not None
    return store


def stored_logs(live: LiveServer) -> int:
    return len(live.call(live.runtime.storage.list_logs(LogQuery(limit=500))).items)


def fail(live: LiveServer, *paths: str) -> None:
    """Hit failing routes, then wait until the writer stored their entries."""
    expected = stored_logs(live) + len(paths)
    for path in paths:
        # A new connection each time: uvicorn closes one after an unhandled exception.
        assert httpx.get(live.origin + path, timeout=10).status_code >= 400
    deadline = time.monotonic() + 20
    while stored_logs(live) < expected:  # poll the storage
        assert time.monotonic() < deadline, "entries were not written"
        time.sleep(0.05)


def issue_row(page: Any, title: str) -> Any:
    return page.locator("#issues tr[data-row]", has=page.locator("a.row-link", has_text=title))


def test_bulk_resolve_then_a_regression(page: Any, live: LiveServer) -> None:
    fail(live, "/checkout/1", "/checkout/22", "/checkout/333", "/items/7", "/items/8", "/report")
    page.goto(live.origin + "/flare")
    page.get_by_role("link", name="Issues", exact=True).click()
    expect(page).to_have_title("Issues · fastapi-flare")
    expect(page.locator("#issues tr[data-row]")).to_have_count(3)
    checkout = issue_row(page, "RuntimeError: payment for order 333 declined")
    items = issue_row(page, "Item 8 not found")
    report = issue_row(page, "ValueError: report template missing")
    expect(checkout.locator("[data-col=count]")).to_have_text("3")
    expect(items.locator("[data-col=count]")).to_have_text("2")

    page.get_by_label("Status", exact=True).select_option("all")  # applies at once, URL follows
    expect(page).to_have_url(live.origin + "/flare/issues?status=all")
    checkout.locator("input[data-select]").check()
    items.locator("input[data-select]").check()
    expect(page.locator("#select-all")).to_have_js_property("indeterminate", True)
    page.get_by_role("button", name="Resolve selected").click()

    expect(page.locator("[data-notice]")).to_have_text("2 issues resolved.")
    expect(checkout.locator("[data-status]")).to_have_text("Resolved")
    expect(items.locator("[data-status]")).to_have_text("Resolved")
    expect(report.locator("[data-status]")).to_have_text("Open")
    expect(page.locator("[data-status-tab=resolved]")).to_have_text("Resolved 2")
    assert page.url == live.origin + "/flare/issues?status=all"

    fail(live, "/checkout/4444")
    now = datetime.now(UTC)
    regressed = live.call(store_of(live).list_issues(IssueQuery(status="open"), now))
    assert sorted((i.title, i.regression) for i in regressed.items) == [
        ("RuntimeError: payment for order 4444 declined", True),
        ("ValueError: report template missing", False),
    ]
    page.locator("[data-status-tab=open]").click()
    expect(page).to_have_url(live.origin + "/flare/issues")
    expect(page.locator("#issues tr[data-row]")).to_have_count(2)
    checkout = issue_row(page, "RuntimeError: payment for order 4444 declined")
    expect(checkout.locator("[data-status]")).to_have_text("Regression")
    expect(checkout.locator("[data-col=count]")).to_have_text("4")

    # The issue opens on its latest occurrence; it can be resolved from there too.
    checkout.locator("a.row-link").click()
    expect(page.locator("#issue-title")).to_have_text(
        "RuntimeError: payment for order 4444 declined"
    )
    expect(page.locator(".standalone [data-field=message]")).to_have_text(
        "payment for order 4444 declined"
    )
    expect(page.locator("#occurrences tr[data-row]")).to_have_count(4)
    page.locator("#issue_head").get_by_role("button", name="Resolve").click()
    expect(page.locator("#issue_head [data-field=status] [data-status]")).to_have_text("Resolved")


def test_select_all_and_ignore_for_n_more(page: Any, live: LiveServer) -> None:
    fail(live, "/checkout/1", "/items/2", "/report")
    page.goto(live.origin + "/flare/issues")
    expect(page.locator("#issues tr[data-row]")).to_have_count(3)
    page.get_by_label("Select all").check()
    expect(page.locator("input[data-select]:checked")).to_have_count(3)
    page.get_by_label("Ignore for the next … occurrences").fill("2")
    page.get_by_role("button", name="Ignore selected").click()
    expect(page.locator("[data-notice]")).to_have_text("3 issues ignored.")
    expect(page.locator("[data-status-tab=ignored]")).to_have_text("Ignored 3")
    expect(page.locator("#issues .state h2")).to_have_text("No issues here")

    fail(live, "/report", "/report")  # the budget of 2 is used up: back in the list
    page.locator("[data-status-tab=open]").click()
    expect(page.locator("#issues tr[data-row]")).to_have_count(1)
    expect(
        issue_row(page, "ValueError: report template missing").locator("[data-status]")
    ).to_have_text("Open")


def test_auto_refresh_shows_new_issues_but_keeps_a_selection(page: Any, live: LiveServer) -> None:
    page.context.add_init_script(FAST_REFRESH)
    fail(live, "/report")
    page.goto(live.origin + "/flare/issues")
    page.evaluate(
        "window.refreshes = 0;"
        "document.body.addEventListener('flare:refresh', () => { window.refreshes += 1; });"
    )
    page.get_by_label("Auto-refresh").check()
    fail(live, "/items/5")
    expect(page.locator("#issues tr[data-row]")).to_have_count(2)

    page.locator("#issues input[data-select]").first.check()
    fail(live, "/checkout/9")
    seen = page.evaluate("window.refreshes")
    deadline = time.monotonic() + 15
    while page.evaluate("window.refreshes") < seen + 3:  # three polls while selected
        assert time.monotonic() < deadline, "auto-refresh stopped polling"
        page.wait_for_timeout(100)
    expect(page.locator("#issues tr[data-row]")).to_have_count(2)
    expect(page.locator("#issues input[data-select]").first).to_be_checked()

    page.locator("#issues input[data-select]").first.uncheck()
    expect(page.locator("#issues tr[data-row]")).to_have_count(3)
