"""Browsing the dashboard in headless Chromium: list, detail, filters, pages, requests."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer, Watch
from tests.browser.demo import seed_demo

pytestmark = pytest.mark.browser


def test_open_errors_read_the_stack_trace_and_close_the_modal(page: Any, live: LiveServer) -> None:
    seed_demo(live)
    page.goto(live.origin + "/flare")
    expect(page).to_have_title("Errors · fastapi-flare")
    expect(page.locator("#results tr[data-row]")).to_have_count(50)
    expect(page.locator("[data-card=errors_24h] .card-value")).to_have_text("30")
    expect(page.locator("[data-card=warnings_24h] .card-value")).to_have_text("30")
    expect(page.locator("[data-card=total] .card-value")).to_have_text("60")
    expect(page.locator("#storage [data-storage-status]")).to_have_text("Connected")

    page.locator("a.row-link", has_text="PaymentGatewayError").first.click()
    dialog = page.locator("dialog[data-modal]")
    expect(dialog).to_be_visible()
    trace = dialog.locator("[data-field=stack_trace]")
    expect(trace).to_contain_text('File "/srv/shop/app/payments.py", line 112, in charge')
    expect(trace.locator(".t-exc")).to_have_text(
        "app.payments.PaymentGatewayError: gateway timeout after 10.0s"
    )
    expect(dialog.locator("[data-field=context]")).to_contain_text('"order_id": "ord_8f2c"')
    assert page.url == live.origin + "/flare"
    page.keyboard.press("Escape")
    expect(page.locator("#modal dialog")).to_have_count(0)
    assert page.evaluate("document.activeElement.classList.contains('row-link')")

    # The close button and a click on the backdrop close it too.
    page.locator("a.row-link", has_text="Item 999 not found").first.click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(page.locator("#modal dialog")).to_have_count(0)
    page.locator("#results tr[data-row] td.col-time").nth(2).click()  # the whole row opens
    expect(dialog).to_be_visible()
    page.mouse.click(8, 450)
    expect(page.locator("#modal dialog")).to_have_count(0)


def test_detail_link_is_a_standalone_deep_link(page: Any, live: LiveServer) -> None:
    seed_demo(live)
    page.goto(live.origin + "/flare")
    href = page.locator("a.row-link", has_text="PaymentGatewayError").first.get_attribute("href")
    page.goto(live.origin + href)
    expect(page.locator(".standalone [data-field=stack_trace]")).to_contain_text("create_order")
    expect(page.locator("dialog")).to_have_count(0)
    page.get_by_role("link", name="← All errors").click()
    expect(page.locator("#results tr[data-row]")).to_have_count(50)


def test_entry_removed_by_retention_says_so_in_the_modal(
    page: Any, live: LiveServer, watch: Watch
) -> None:
    watch.expected_console.append("status of 404 (Not Found)")  # Chromium logs every 404
    seed_demo(live)
    page.goto(live.origin + "/flare")
    expect(page.locator("#results tr[data-row]")).to_have_count(50)
    future = datetime.now(UTC) + timedelta(days=1)
    live.call(live.runtime.storage.prune(older_than=future, max_entries=1, max_requests=1))
    page.locator("a.row-link").first.click()
    dialog = page.locator("dialog[data-modal]")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("This log entry does not exist")
    page.keyboard.press("Escape")
    expect(page.locator("#modal dialog")).to_have_count(0)


def test_filter_by_level_and_search_keep_the_url(page: Any, live: LiveServer) -> None:
    seed_demo(live)
    page.goto(live.origin + "/flare")
    rows = page.locator("#results tr[data-row]")
    page.get_by_label("Level", exact=True).select_option("WARNING")
    expect(page).to_have_url(live.origin + "/flare?level=WARNING")
    expect(rows).to_have_count(30)
    expect(page.locator("#results .badge-error")).to_have_count(0)

    page.get_by_label("Search", exact=True).fill("not found")
    expect(page).to_have_url(live.origin + "/flare?level=WARNING&q=not%20found")
    expect(rows).to_have_count(10)
    expect(page.locator("#results a.row-link").first).to_have_text("Item 999 not found")

    page.reload()
    expect(rows).to_have_count(10)
    expect(page.get_by_label("Search", exact=True)).to_have_value("not found")
    expect(page.get_by_label("Level", exact=True)).to_have_value("WARNING")

    page.go_back()
    expect(page).to_have_url(live.origin + "/flare?level=WARNING")
    expect(rows).to_have_count(30)
    expect(page.get_by_label("Search", exact=True)).to_have_value("")

    page.get_by_label("Event", exact=True).select_option("payment_failed")
    expect(page).to_have_url(live.origin + "/flare?level=WARNING&event=payment_failed")
    expect(page.locator("#results")).to_contain_text("No entries match")


def test_paginate_older_and_newer(page: Any, live: LiveServer) -> None:
    seed_demo(live)
    page.goto(live.origin + "/flare?limit=25")
    rows = page.locator("#results tr[data-row]")
    expect(rows).to_have_count(25)
    first_page = rows.evaluate_all("rows => rows.map(r => r.dataset.entryId)")
    assert first_page == [str(i) for i in range(60, 35, -1)]

    page.get_by_role("link", name="Older →").click()
    expect(page).to_have_url(re.compile(r"/flare\?limit=25&before=36$"))
    expect(rows.first).to_have_attribute("data-entry-id", "35")
    page.get_by_role("link", name="Older →").click()
    expect(rows).to_have_count(10)
    expect(page.locator(".pager span[aria-disabled]")).to_have_text("Older →")
    page.get_by_role("link", name="← Newer").click()
    expect(rows.first).to_have_attribute("data-entry-id", "35")
    page.get_by_role("link", name="Back to newest").click()
    expect(rows.first).to_have_attribute("data-entry-id", "60")
    expect(page).to_have_url(live.origin + "/flare?limit=25")

    page.get_by_label("Per page").select_option("100")
    expect(rows).to_have_count(60)


def test_pagination_and_filters_work_without_javascript(browser: Any, live: LiveServer) -> None:
    seed_demo(live)
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(live.origin + "/flare?limit=25")
        page.get_by_role("link", name="Older →").click()
        expect(page).to_have_url(re.compile(r"before=36"))
        expect(page.locator("#results tr[data-row]").first).to_have_attribute("data-entry-id", "35")
        page.get_by_label("Level", exact=True).select_option("ERROR")
        page.get_by_role("button", name="Apply").click()
        expect(page).to_have_url(re.compile(r"level=ERROR"))
        expect(page.locator("#results .badge-warning")).to_have_count(0)
        expect(page.locator("#results tr[data-row]")).to_have_count(25)
    finally:
        context.close()


def test_requests_tab_filters_and_masked_headers(page: Any, live: LiveServer) -> None:
    seed_demo(live)
    page.goto(live.origin + "/flare")
    page.get_by_role("link", name="HTTP Requests").click()
    expect(page).to_have_url(live.origin + "/flare/requests")
    rows = page.locator("#results tr[data-row]")
    expect(rows).to_have_count(40)
    page.get_by_label("Status", exact=True).select_option("5xx")
    expect(page).to_have_url(live.origin + "/flare/requests?status=5xx")
    expect(rows).to_have_count(8)
    page.get_by_label("Method", exact=True).select_option("DELETE")
    expect(page.locator("#results")).to_contain_text("No requests match")
    page.get_by_label("Method", exact=True).select_option("")
    page.get_by_label("Path", exact=True).fill("/api/orders")
    expect(rows).to_have_count(8)
    rows.first.locator("a.row-link").click()
    dialog = page.locator("dialog[data-modal]")
    expect(dialog).to_be_visible()
    headers = dialog.locator("[data-field=headers] tbody tr")
    expect(headers).to_have_count(4)
    expect(headers.filter(has_text="authorization")).to_contain_text("[redacted]")
    page.keyboard.press("Escape")
    expect(page.locator("#modal dialog")).to_have_count(0)
