"""PostgreSQL outages under traffic, on a private cluster the tests stop and start for real.

Down at start, restarted under load, Flare's sessions killed with
``pg_terminate_backend``: the host app answers every request with its own status
and without waiting, entries buffer up to the queue bound (the rest counted as
dropped), and Flare reconnects by itself and writes what it accepted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fastapi_flare.dashboard.formatting import format_number
from fastapi_flare.runtime import FlareRuntime
from tests.core.conftest import make_app
from tests.helpers import client, lifespan, wait_until
from tests.reliability.faults import (
    ENTRIES_PER_FAILURE,
    Traffic,
    assert_still_fast,
    dashboard_view,
    drive,
    record,
)
from tests.reliability.pgcluster import (
    PrivateCluster,
    execute,
    pg_rows,
    terminate_flare_connections,
    unique_table,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

QUEUE = 200


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    """One private cluster for this module, running between tests; removed at the end.

    Its ``postgres`` database gets pg_trgm up front, like the shared test server;
    ``test_fresh_database_without_pg_trgm`` covers a database without it.
    """
    made = PrivateCluster.create()
    try:
        made.start()
        asyncio.run(execute(made.dsn, "CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        yield made
    finally:
        made.destroy()


@pytest.fixture
def running(cluster: PrivateCluster) -> Iterator[PrivateCluster]:
    """The cluster, started again after a test that left it stopped."""
    if not cluster.running:
        cluster.start()
    yield cluster
    if not cluster.running:
        cluster.start()


def pg_app(tmp_path: Path, dsn: str, **options: Any) -> tuple[Any, FlareRuntime, str]:
    """The host app with Flare on a fresh table of the private cluster."""
    table = unique_table()
    options.setdefault("queue_max_size", QUEUE)
    # Retention must not trim what the test counts (the requests table is a ring buffer).
    options.setdefault("max_entries", 100_000)
    options.setdefault("request_max_entries", 100_000)
    options.setdefault("worker_interval_seconds", 0.5)
    options.setdefault("pg_connect_timeout_seconds", 2.0)
    app, runtime = make_app(
        tmp_path, storage_backend="postgresql", pg_dsn=dsn, pg_table_name=table, **options
    )
    return app, runtime, table


def settled(runtime: FlareRuntime) -> Callable[[], bool]:
    """Condition: every accepted entry has been written."""
    queue = runtime.queue
    return lambda: queue.depth == 0 and queue.written == queue.accepted


def accounted(runtime: FlareRuntime, *traffic: Traffic) -> None:
    """Every produced entry was accepted or counted dropped; the bound held."""
    queue = runtime.queue
    assert queue.accepted + queue.dropped == ENTRIES_PER_FAILURE * sum(t.failing for t in traffic)
    assert max(t.max_depth for t in traffic) <= queue.capacity


async def test_database_down_at_start_then_up(running: PrivateCluster, tmp_path: Path) -> None:
    cluster = running
    healthy_app, healthy, _ = pg_app(tmp_path, cluster.dsn)
    async with lifespan(healthy_app), client(healthy_app) as http:
        await wait_until(healthy.worker.storage_ready.is_set, timeout=15)
        baseline = await drive(http, 200)

    cluster.stop()
    app, runtime, table = pg_app(tmp_path, cluster.dsn)
    queue = runtime.queue
    async with lifespan(app), client(app) as http:
        fault = await drive(http, 450, queue=queue)
        assert not runtime.worker.storage_ready.is_set()
        assert queue.written == 0 and queue.depth == QUEUE and queue.dropped > 0
        view = await dashboard_view(http)
        assert view.storage_status == "Unavailable"
        assert view.dropped_fact == format_number(queue.dropped)
        card_shown = view.dropped_card == format_number(queue.dropped)

        await asyncio.to_thread(cluster.start)
        await wait_until(settled(runtime), timeout=30)
        after = await drive(http, 30, queue=queue)
        await wait_until(settled(runtime), timeout=10)
        assert (await dashboard_view(http)).storage_status == "Connected"
    logs, requests = await pg_rows(cluster.dsn, table)
    assert_still_fast(baseline, fault)
    accounted(runtime, fault, after)
    assert logs + requests == queue.written == queue.accepted
    record(
        "postgresql down at start",
        requests=baseline.sent + fault.sent + after.sent,
        stored=logs + requests,
        dropped=queue.dropped,
        p99_ms=(baseline.p99 * 1000, fault.p99 * 1000),
    )
    assert card_shown, (
        "no 'Dropped entries' card while PostgreSQL is down: "
        f"card={view.dropped_card!r}, dropped={queue.dropped}"
    )


async def test_connections_killed_under_load(running: PrivateCluster, tmp_path: Path) -> None:
    cluster = running
    app, runtime, table = pg_app(tmp_path, cluster.dsn, queue_max_size=10_000)
    queue = runtime.queue
    killed: list[int] = []

    async def killer() -> None:
        for _ in range(15):
            killed.append(await terminate_flare_connections(cluster.dsn))
            await asyncio.sleep(0.15)

    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set, timeout=15)
        baseline = await drive(http, 200, queue=queue)
        await wait_until(settled(runtime), timeout=15)
        task = asyncio.create_task(killer())
        fault = Traffic()
        while not task.done():
            await drive(http, 30, traffic=fault, queue=queue)
        await task
        await wait_until(settled(runtime), timeout=30)
        after = await drive(http, 30, queue=queue)
        await wait_until(settled(runtime), timeout=10)
    logs, requests = await pg_rows(cluster.dsn, table)
    assert sum(killed) >= 5, f"too few sessions were killed: {killed}"
    assert_still_fast(baseline, fault)
    accounted(runtime, baseline, fault, after)
    assert queue.dropped == 0
    assert queue.written == queue.accepted
    # Exactly once: no loss, and a batch whose COMMIT answer died with its session
    # is found by its key on the retry instead of being written twice.
    duplicates = logs + requests - queue.accepted
    assert duplicates == 0, f"{duplicates} rows written twice"
    record(
        "postgresql sessions terminated under load",
        requests=baseline.sent + fault.sent + after.sent,
        stored=logs + requests,
        duplicates=duplicates,
        dropped=queue.dropped,
        sessions_killed=sum(killed),
        p99_ms=(baseline.p99 * 1000, fault.p99 * 1000),
    )


async def test_server_restarted_under_load(running: PrivateCluster, tmp_path: Path) -> None:
    cluster = running
    app, runtime, table = pg_app(tmp_path, cluster.dsn)
    queue = runtime.queue
    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set, timeout=15)
        baseline = await drive(http, 200, queue=queue)
        await wait_until(settled(runtime), timeout=15)

        # pg_ctl blocks; run it in a thread so the app keeps serving meanwhile.
        stopping = asyncio.create_task(asyncio.to_thread(cluster.stop, "fast"))
        fault = Traffic()
        while not stopping.done():
            await drive(http, 20, traffic=fault, queue=queue)
        await stopping
        await drive(http, 450, traffic=fault, queue=queue)
        assert queue.dropped > 0 and queue.depth == QUEUE
        view = await dashboard_view(http)
        assert view.storage_status == "Unavailable"
        card_shown = view.dropped_card == format_number(queue.dropped)

        starting = asyncio.create_task(asyncio.to_thread(cluster.start))
        while not starting.done():
            await drive(http, 20, traffic=fault, queue=queue)
        await starting
        await wait_until(settled(runtime), timeout=30)
        after = await drive(http, 30, queue=queue)
        await wait_until(settled(runtime), timeout=10)
    logs, requests = await pg_rows(cluster.dsn, table)
    assert_still_fast(baseline, fault)
    accounted(runtime, baseline, fault, after)
    assert logs + requests == queue.written == queue.accepted
    record(
        "postgresql restarted under load",
        requests=baseline.sent + fault.sent + after.sent,
        stored=logs + requests,
        dropped=queue.dropped,
        p99_ms=(baseline.p99 * 1000, fault.p99 * 1000),
    )
    assert card_shown, (
        "no 'Dropped entries' card while PostgreSQL is down: "
        f"card={view.dropped_card!r}, dropped={queue.dropped}"
    )


async def test_fresh_database_without_pg_trgm(
    running: PrivateCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A brand-new database (no extensions yet): Flare creates its schema and writes."""
    name = unique_table()
    await execute(running.dsn, f'CREATE DATABASE "{name}"')
    dsn = running.dsn.rsplit("/", 1)[0] + f"/{name}"
    app, runtime, table = pg_app(tmp_path, dsn)
    async with lifespan(app), client(app) as http:
        traffic = await drive(http, 30)
        opened = True
        try:
            await wait_until(runtime.worker.storage_ready.is_set, timeout=5)
        except AssertionError:
            opened = False
        if opened:
            await wait_until(settled(runtime), timeout=10)
    reasons = {r.getMessage() for r in caplog.records if r.name == "fastapi_flare"}
    assert opened, f"Flare never opened on a fresh database: {sorted(reasons)}"
    logs, requests = await pg_rows(dsn, table)
    assert logs + requests == ENTRIES_PER_FAILURE * traffic.failing
