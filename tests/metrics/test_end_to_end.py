"""Real requests through ``setup(app)``: every one counted, flushed by the worker and at shutdown."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx

from fastapi_flare.metrics import MetricsAggregator
from fastapi_flare.metrics.model import OTHER_ROUTE, UNMATCHED_ROUTE
from fastapi_flare.metrics.ranges import RANGES
from fastapi_flare.metrics.reader import MetricsReader
from fastapi_flare.metrics.store import store_for
from fastapi_flare.metrics.summary import RouteStats
from tests.helpers import client, lifespan, wait_until
from tests.metrics.apps import flare_app
from tests.metrics.conftest import Backend


async def send_traffic(http: httpx.AsyncClient) -> None:
    """20 × 200 and 3 × 404 on /items/{item_id}, 2 × 500, 4 unmatched, 5 POSTs, 2 dashboard views."""
    calls = [http.get(f"/items/{n}") for n in range(20)]
    calls += [http.get("/items/999") for _ in range(3)]
    calls += [http.get("/boom") for _ in range(2)]
    calls += [http.get(f"/scanner/{n}.php") for n in range(4)]
    calls += [http.post("/orders") for _ in range(5)]
    calls += [http.get("/flare"), http.get("/flare/metrics")]  # the dashboard is not counted
    statuses = sorted(r.status_code for r in await asyncio.gather(*calls))
    assert statuses == [200] * 27 + [404] * 7 + [500] * 2


def by_route(routes: list[RouteStats]) -> dict[tuple[str, str], tuple[int, int, int]]:
    return {(r.route, r.method): (r.requests, r.status_4xx, r.status_5xx) for r in routes}


EXPECTED = {
    ("/items/{item_id}", "GET"): (23, 3, 0),
    ("/boom", "GET"): (2, 0, 2),
    (UNMATCHED_ROUTE, "GET"): (4, 4, 0),
    ("/orders", "POST"): (5, 0, 0),
}


async def test_every_request_is_counted_and_flushed_by_the_worker(backend: Backend) -> None:
    app, runtime = flare_app(backend)
    assert isinstance(runtime.metrics, MetricsAggregator)
    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set)
        await send_traffic(http)
        reader = MetricsReader(store_for(runtime.storage))

        async def flushed() -> bool:
            summary = await reader.summary(datetime.now(UTC))
            return summary.requests == 34

        await wait_until(flushed)
        overview = await reader.overview(RANGES["1h"], datetime.now(UTC))
        assert by_route(overview.routes) == EXPECTED
        summary = overview.summary
        assert (summary.requests, summary.status_4xx, summary.status_5xx) == (34, 7, 2)
        assert summary.error_rate == 2 / 34
        assert summary.latency.p50 is not None and summary.latency.p99 is not None
        assert 0 < summary.latency.p50 <= summary.latency.p99 <= summary.latency.maximum  # type: ignore[operator]
        day = await reader.overview(RANGES["24h"], datetime.now(UTC))
        assert by_route(day.routes) == EXPECTED  # the hour rollups agree with the minutes


async def test_shutdown_flushes_what_the_interval_did_not(backend: Backend) -> None:
    app, runtime = flare_app(backend, worker_interval_seconds=3600)
    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set)
        await send_traffic(http)
    # The storage of the app is closed now; open the same file or table again.
    _, store = await backend.open()
    overview = await MetricsReader(store).overview(RANGES["1h"], datetime.now(UTC))
    assert by_route(overview.routes) == EXPECTED


async def test_route_cap_folds_new_routes_into_other(backend: Backend) -> None:
    app, runtime = flare_app(backend, metrics_max_routes=2)
    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set)
        for path in ("/items/1", "/boom", "/health", "/health", "/nowhere"):
            await http.get(path)
        await http.post("/orders")
        reader = MetricsReader(store_for(runtime.storage))

        async def flushed() -> bool:
            return (await reader.summary(datetime.now(UTC))).requests == 6

        await wait_until(flushed)
        overview = await reader.overview(RANGES["1h"], datetime.now(UTC))
    assert {k: v[0] for k, v in by_route(overview.routes).items()} == {
        ("/items/{item_id}", "GET"): 1,
        ("/boom", "GET"): 1,
        (OTHER_ROUTE, "GET"): 2,
        (OTHER_ROUTE, "POST"): 1,
        (UNMATCHED_ROUTE, "GET"): 1,
    }


async def test_metrics_can_be_turned_off(backend: Backend) -> None:
    app, runtime = flare_app(backend, metrics_enabled=False)
    assert runtime.metrics is None
    assert runtime.worker.periodic_jobs == []
    async with lifespan(app), client(app) as http:
        assert (await http.get("/items/1")).status_code == 200
