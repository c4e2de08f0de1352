"""The Metrics page, its fragments and the Errors view's metric cards, read with BeautifulSoup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup, Tag
from fastapi import FastAPI

from fastapi_flare.metrics.aggregator import MetricsAggregator
from fastapi_flare.metrics.store import store_for
from fastapi_flare.runtime import FlareRuntime
from tests.helpers import client, lifespan, wait_until
from tests.metrics.apps import flare_app
from tests.metrics.conftest import Backend, batch_of

HX = {"HX-Request": "true"}
# (route, method, status, seconds) × count: known numbers for every column of the table.
TRAFFIC: list[tuple[tuple[Any, ...], int]] = [
    (("/items/{item_id}", "GET", 200, 0.010), 90),
    (("/items/{item_id}", "GET", 404, 0.004), 10),
    (("/orders", "POST", 201, 0.120), 38),
    (("/orders", "POST", 500, 0.900), 2),
    ((None, "GET", 404, 0.001), 5),
]


async def seed(runtime: FlareRuntime, traffic: list[tuple[tuple[Any, ...], int]]) -> None:
    """Count ``traffic`` now and write it, as the worker's flush would."""
    agg = MetricsAggregator(100)
    for (route, method, status, seconds), count in traffic:
        for _ in range(count):
            agg.record(route, method, status, seconds)
    await store_for(runtime.storage).write(batch_of(agg))


class Page:
    """A running app and helpers to read its dashboard."""

    def __init__(self, app: FastAPI, runtime: FlareRuntime, http: httpx.AsyncClient) -> None:
        self.app, self.runtime, self.http = app, runtime, http

    async def soup(self, path: str, **kwargs: Any) -> BeautifulSoup:
        response = await self.http.get("/flare" + path, **kwargs)
        assert response.status_code == 200, response.text[:300]
        return BeautifulSoup(response.text, "html.parser")


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Page]:
    app, runtime = flare_app(Backend("sqlite", tmp_path))
    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set)
        yield Page(app, runtime, http)


def ms(text: str) -> float:
    """``124 ms`` or ``1.25 s`` in milliseconds."""
    value, unit = text.split()
    return float(value) * (1000 if unit == "s" else 1)


def near(text: str, expected_ms: float) -> bool:
    """A displayed latency within the histogram's 5 % of the true value."""
    return abs(ms(text) - expected_ms) <= 0.05 * expected_ms


def table_rows(soup: BeautifulSoup) -> list[dict[str, str]]:
    rows = []
    for tr in soup.select("#routes tbody tr"):
        cells = {td["data-col"]: td.get_text(strip=True) for td in tr.select("td[data-col]")}
        rows.append({"route": str(tr["data-route"]), "method": str(tr["data-method"]), **cells})
    return rows


async def test_page_shows_charts_statuses_and_the_route_table(page: Page) -> None:
    await seed(page.runtime, TRAFFIC)
    soup = await page.soup("/metrics")
    assert soup.select_one("a.tab.is-active").get_text(strip=True) == "Metrics"
    current = soup.select("nav.m-ranges a[aria-current]")
    assert [a["data-range"] for a in current] == ["24h"]

    charts = {fig["data-chart"]: fig for fig in soup.select("figure.m-chart")}
    assert list(charts) == ["requests", "errors", "latency"]
    for fig in charts.values():
        svg = fig.select_one("svg[role=img]")
        assert svg is not None and svg.select_one("desc").get_text()
        assert len(svg.select(".m-axis-y text")) >= 5
        assert svg.select(".m-axis-x text")
        hovers = svg.select("rect.m-hover > title")
        assert 97 <= len(hovers) <= 100  # one per quarter hour of 24 h, plus the current hour's
    bars = charts["requests"].select("rect[data-series]")
    assert {b["data-series"] for b in bars} == {"ok", "4xx", "5xx"}
    last = charts["requests"].select("rect.m-hover > title")[-1].get_text()
    assert "145 requests" in last and "5xx 2" in last and "4xx 15" in last
    series = {p["data-series"] for p in charts["latency"].select("polyline, circle")}
    assert series == {"p50", "p95", "p99"}

    legend = {
        li["data-status"]: li.select_one(".m-status-count").get_text()
        for li in soup.select(".m-status-legend li")
    }
    assert legend == {"2xx": "128", "3xx": "0", "4xx": "15", "5xx": "2"}
    assert soup.select_one('[data-card="requests"] .card-value').get_text() == "145"
    assert soup.select_one('[data-card="error_rate"] .card-value').get_text() == "1.4 %"

    rows = table_rows(soup)
    assert [(r["route"], r["method"], r["requests"]) for r in rows] == [
        ("/items/{item_id}", "GET", "100"),
        ("/orders", "POST", "40"),
        ("<unmatched>", "GET", "5"),
    ]
    orders = rows[1]
    assert (orders["errors"], orders["4xx"], orders["max"]) == ("5.0 %", "0", "900 ms")
    assert near(orders["p50"], 120) and near(orders["p95"], 120)
    assert orders["p99"] == "900 ms"  # rank 40 of 40: the maximum, exactly
    assert (rows[0]["errors"], rows[0]["4xx"], rows[0]["max"]) == ("0 %", "10", "10 ms")
    assert near(rows[0]["p50"], 10) and near(rows[0]["p99"], 10)


async def test_route_links_open_the_errors_of_that_route(page: Page) -> None:
    for path in ["/items/999", "/items/999", "/boom", "/items/3"]:
        await page.http.get(path)
    await wait_until(lambda: page.runtime.queue.written >= 6 and page.runtime.queue.depth == 0)
    await seed(page.runtime, TRAFFIC)
    soup = await page.soup("/metrics")
    link = soup.select_one('#routes tr[data-route="/items/{item_id}"] a.row-link')
    assert link["href"] == "/flare?route=%2Fitems%2F%7Bitem_id%7D"
    assert soup.select_one('#routes tr[data-route="<unmatched>"] a') is None

    errors = await page.soup(str(link["href"])[len("/flare") :])
    assert "/items/{item_id}" in errors.select_one(".chips").get_text()
    rows = errors.select("#results tbody tr")
    assert len(rows) == 2
    assert all("/items/999" in row.get_text() for row in rows)


async def test_ranges_and_sorting_are_links_in_the_query_string(page: Page) -> None:
    await seed(page.runtime, TRAFFIC)
    soup = await page.soup("/metrics?range=1h&sort=p95&dir=asc")
    assert [a["data-range"] for a in soup.select("nav.m-ranges a[aria-current]")] == ["1h"]
    # A minute each, from 60 to 65 minutes back (the window starts on a 5-minute mark).
    assert 61 <= len(soup.select('figure[data-chart="latency"] rect.m-hover')) <= 65
    assert [r["route"] for r in table_rows(soup)] == ["<unmatched>", "/items/{item_id}", "/orders"]
    header = soup.select_one('th[data-sort="p95"]')
    assert header["aria-sort"] == "ascending"
    assert header.a["href"] == "/flare/metrics?range=1h&sort=p95"  # flips to descending
    assert (
        soup.select_one('th[data-sort="route"] a')["href"] == "/flare/metrics?range=1h&sort=route"
    )
    week = soup.select_one('nav.m-ranges a[data-range="7d"]')
    assert week["href"] == "/flare/metrics?range=7d&sort=p95&dir=asc"

    by_name = await page.soup("/metrics?sort=route")
    assert [r["route"] for r in table_rows(by_name)] == [
        "/items/{item_id}",
        "/orders",
        "<unmatched>",
    ]
    by_errors = await page.soup("/metrics?sort=errors")
    assert [r["route"] for r in table_rows(by_errors)] == [
        "/orders",
        "/items/{item_id}",
        "<unmatched>",
    ]


async def test_htmx_gets_only_the_targeted_block(page: Page) -> None:
    await seed(page.runtime, TRAFFIC)
    routes = await page.http.get("/flare/metrics?sort=max", headers={**HX, "HX-Target": "routes"})
    assert routes.status_code == 200
    assert routes.text.lstrip().startswith('<section id="routes"')
    assert "<html" not in routes.text and "m-chart" not in routes.text
    assert "HX-Request" in routes.headers["vary"]
    whole = await page.http.get("/flare/metrics?range=7d", headers={**HX, "HX-Target": "metrics"})
    soup = BeautifulSoup(whole.text, "html.parser")
    top = soup.find(True)
    assert isinstance(top, Tag) and top.get("id") == "metrics"
    assert len(soup.select("figure.m-chart")) == 3 and soup.select_one("#routes") is not None
    # Hourly, from the UTC midnight 7 days back up to now.
    assert 7 * 24 + 1 <= len(soup.select('figure[data-chart="requests"] rect.m-hover')) <= 8 * 24


async def test_empty_state_before_any_request(page: Page) -> None:
    soup = await page.soup("/metrics")
    state = soup.select_one('[data-state="empty"]')
    assert state is not None and "No requests in the last 24 hours" in state.get_text()
    assert soup.select("svg.m-svg") == [] and soup.select_one("#routes") is None
    cards = await page.soup("")
    assert cards.select_one('[data-card="p95_24h"] .card-value').get_text() == "—"
    assert (
        cards.select_one('[data-card="error_rate_24h"] .card-hint').get_text() == "no requests yet"
    )


async def test_errors_view_gains_latency_and_error_rate_cards(page: Page) -> None:
    await seed(page.runtime, TRAFFIC)
    soup = await page.soup("")
    p95 = soup.select_one('[data-card="p95_24h"]')
    rate = soup.select_one('[data-card="error_rate_24h"]')
    assert p95.select_one(".card-label").get_text() == "p95 latency · 24 h"
    assert near(p95.select_one(".card-value").get_text(), 120)  # 7th slowest of 145: 120 ms
    assert rate.select_one(".card-label").get_text() == "Error rate · 24 h"
    assert rate.select_one(".card-value").get_text() == "1.4 %"
    assert rate.select_one(".card-hint").get_text() == "2 of 145 were 5xx"
    assert "card-error" in rate["class"]
    fragment = await page.http.get("/flare", headers={**HX, "HX-Target": "cards"})
    assert 'data-card="p95_24h"' in fragment.text


async def test_hostile_query_values_fall_back_to_defaults(page: Page) -> None:
    await seed(page.runtime, TRAFFIC)
    for query in [
        "?range=<script>&sort=%22><x&dir=%00",
        "?range=" + "9" * 5000,
        "?sort=route&dir=sideways",
    ]:
        soup = await page.soup("/metrics" + query)
        assert [a["data-range"] for a in soup.select("nav.m-ranges a[aria-current]")] == ["24h"]
        assert len(table_rows(soup)) == 3


async def test_disabled_metrics_say_so_and_add_no_cards(tmp_path: Path) -> None:
    app, runtime = flare_app(Backend("sqlite", tmp_path), metrics_enabled=False)
    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set)
        soup = BeautifulSoup((await http.get("/flare/metrics")).text, "html.parser")
        assert "Metrics are turned off" in soup.select_one('[data-state="disabled"]').get_text()
        errors = BeautifulSoup((await http.get("/flare")).text, "html.parser")
        assert errors.select_one('[data-card="p95_24h"]') is None
        assert errors.select_one('[data-card="errors_24h"]') is not None


async def test_unreachable_storage_renders_a_notice_not_a_500(tmp_path: Path) -> None:
    app, _ = flare_app(Backend("sqlite", tmp_path))
    async with client(app) as http:  # no lifespan: the storage was never opened
        response = await http.get("/flare/metrics")
        assert response.status_code == 200
        assert "Storage is unavailable" in response.text
        routes = await http.get("/flare/metrics", headers={**HX, "HX-Target": "routes"})
        assert routes.text.lstrip().startswith('<section id="routes"')
        assert "Storage is unavailable" in routes.text
        cards = await http.get("/flare")
        assert cards.status_code == 200
