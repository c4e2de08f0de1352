"""Fire-and-forget: bounded queue, batched writer, zero loss, shutdown flush."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from fastapi_flare.queue import FlareQueue
from fastapi_flare.schema import FlareLogEntry, StorageError
from tests.core.conftest import flushed, make_app, stored_logs, stored_requests
from tests.helpers import client, lifespan, wait_until


def _entry(n: int) -> FlareLogEntry:
    from datetime import UTC, datetime

    return FlareLogEntry(timestamp=datetime.now(UTC), level="ERROR", event="e", message=str(n))


def test_full_queue_drops_and_counts() -> None:
    queue = FlareQueue(capacity=3)
    results = [queue.put(_entry(n)) for n in range(5)]
    assert results == [True, True, True, False, False]
    assert (queue.depth, queue.accepted, queue.dropped) == (3, 3, 2)
    assert [e.message for e in queue.take(2)] == ["0", "1"]
    assert queue.depth == 1


async def test_2000_concurrent_failing_requests_lose_nothing(tmp_path: Path) -> None:
    app, runtime = make_app(tmp_path, max_entries=100_000, request_max_entries=100_000)
    async with lifespan(app), client(app) as http:
        paths = ["/boom", "/items/999", "/secure", "/sync-boom"] * 500
        responses = await asyncio.gather(*(http.get(path) for path in paths))
        assert sorted({r.status_code for r in responses}) == [401, 404, 500]
        await wait_until(flushed(runtime, 4000), timeout=60)
        assert len(await stored_logs(runtime)) == 2000
        assert len(await stored_requests(runtime)) == 2000
    assert runtime.queue.dropped == 0


def spy_on_log_batches(runtime: Any) -> list[int]:
    """Record the size of every batch the writer hands to ``save_logs``."""
    sizes: list[int] = []
    original = runtime.storage.save_logs

    async def spy(entries):  # type: ignore[no-untyped-def]
        sizes.append(len(entries))
        await original(entries)

    runtime.storage.save_logs = spy
    return sizes


async def test_writer_batches_at_most_worker_batch_size(tmp_path: Path) -> None:
    app, runtime = make_app(tmp_path, worker_batch_size=7, worker_max_batch_size=7)
    sizes = spy_on_log_batches(runtime)
    async with lifespan(app):
        for n in range(50):
            runtime.queue.put(_entry(n))
        await wait_until(flushed(runtime, 50))
    assert sum(sizes) == 50
    assert max(sizes) <= 7


async def test_writer_catches_up_on_a_backlog_in_larger_batches(tmp_path: Path) -> None:
    app, runtime = make_app(tmp_path, worker_batch_size=7, worker_max_batch_size=20)
    sizes = spy_on_log_batches(runtime)
    async with lifespan(app):
        await wait_until(lambda: runtime.worker.storage_ready.is_set())
        for n in range(50):  # a burst: 50 entries wait before the writer runs
            runtime.queue.put(_entry(n))
        await wait_until(flushed(runtime, 50))
        assert sizes[:3] == [20, 20, 10]  # the backlog, in batches of at most 20
        runtime.queue.put(_entry(50))  # no backlog: one entry, one batch
        await wait_until(flushed(runtime, 51))
    assert sizes[3:] == [1]


async def test_writer_gathers_a_trickle_into_one_write(tmp_path: Path) -> None:
    app, runtime = make_app(tmp_path)
    sizes = spy_on_log_batches(runtime)
    async with lifespan(app):
        await wait_until(lambda: runtime.worker.storage_ready.is_set())
        for n in range(3):  # 10 ms apart: inside the writer's linger (WRITE_LINGER_SECONDS)
            runtime.queue.put(_entry(n))
            await asyncio.sleep(0.01)
        await wait_until(flushed(runtime, 3))
    assert sizes == [3]


async def test_writer_does_not_wait_for_the_interval(tmp_path: Path) -> None:
    app, runtime = make_app(tmp_path, worker_interval_seconds=3600)
    async with lifespan(app), client(app) as http:
        await http.get("/boom")
        await wait_until(flushed(runtime, 2), timeout=5)


async def test_shutdown_flushes_every_accepted_entry(tmp_path: Path) -> None:
    app, runtime = make_app(tmp_path, max_entries=100_000, queue_max_size=50_000)
    async with lifespan(app):
        for n in range(20_000):
            assert runtime.queue.put(_entry(n))
    # lifespan exit drained the queue and closed storage; count in the file itself
    with closing(sqlite3.connect(tmp_path / "flare.db")) as db:
        assert db.execute("SELECT count(*) FROM flare_logs").fetchone() == (20_000,)
    assert runtime.queue.written == 20_000


def failing_first(save: Any, times: int) -> Any:
    """Wrap a storage save method so its first ``times`` calls raise StorageError."""
    left = [times]

    async def flaky(entries: Any) -> None:
        if left[0]:
            left[0] -= 1
            raise StorageError("disk on fire")
        await save(entries)

    return flaky


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry failed batches after 10 ms instead of the production backoff."""
    monkeypatch.setattr("fastapi_flare.worker.INITIAL_BACKOFF_SECONDS", 0.01)


@pytest.mark.usefixtures("fast_backoff")
async def test_storage_failure_keeps_the_batch_and_recovers(tmp_path: Path) -> None:
    app, runtime = make_app(tmp_path)
    runtime.storage.save_logs = failing_first(runtime.storage.save_logs, 3)  # type: ignore[method-assign]
    async with lifespan(app), client(app) as http:
        response = await http.get("/boom")
        assert response.status_code == 500
        await wait_until(flushed(runtime, 2))
        assert [e.message for e in await stored_logs(runtime)] == ["kaboom"]


@pytest.mark.usefixtures("fast_backoff")
async def test_a_failed_request_write_does_not_write_the_logs_twice(tmp_path: Path) -> None:
    """Logs and requests commit separately: a retry resends only what did not commit."""
    app, runtime = make_app(tmp_path)
    runtime.storage.save_requests = failing_first(runtime.storage.save_requests, 2)  # type: ignore[method-assign]
    async with lifespan(app), client(app) as http:
        assert (await http.get("/boom")).status_code == 500
        await wait_until(flushed(runtime, 2))
        assert [e.message for e in await stored_logs(runtime)] == ["kaboom"]
        assert len(await stored_requests(runtime)) == 1
    assert runtime.queue.written == 2


async def test_unwritable_database_never_breaks_the_app(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")
    app, runtime = make_app(tmp_path, sqlite_path=str(blocker / "sub" / "flare.db"))
    async with lifespan(app), client(app) as http:
        for _ in range(20):
            assert (await http.get("/ok")).status_code == 200
            assert (await http.get("/boom")).status_code == 500
        assert runtime.queue.written == 0
        assert runtime.queue.depth == 40
    warnings = [
        r for r in caplog.records if r.name == "fastapi_flare" and "failed" in r.getMessage()
    ]
    assert len(warnings) == 1  # logged once per episode, not per attempt


async def test_retention_that_falls_behind_runs_again_at_once(tmp_path: Path) -> None:
    # Entries keep arriving while a pass deletes (here: 1,500 more during each of the
    # first two passes); a pass that removed many rows is followed at once by another
    # instead of leaving the table over its cap for a whole interval.
    from fastapi_flare.storage.sqlite import SqliteStorage

    app, runtime = make_app(tmp_path, worker_interval_seconds=3600, max_entries=10)
    earlier = SqliteStorage(runtime.config.sqlite_path)
    await earlier.open()
    await earlier.save_logs([_entry(n) for n in range(1500)])  # over the cap at start
    await earlier.close()
    storage = runtime.storage
    prune = storage.prune
    arrivals = 2

    async def prune_while_entries_arrive(**limits: Any) -> Any:
        nonlocal arrivals
        result = await prune(**limits)
        if arrivals:
            arrivals -= 1
            await storage.save_logs([_entry(n) for n in range(1500)])
        return result

    storage.prune = prune_while_entries_arrive  # type: ignore[method-assign]
    async with lifespan(app):

        async def caught_up() -> bool:
            return arrivals == 0 and (await storage.overview()).log_count == 10

        await wait_until(caught_up, timeout=5)


async def _write_after_first_pass(runtime: Any, count: int) -> None:
    """Queue ``count`` entries once the start-up retention pass has run; wait until stored."""
    await wait_until(runtime.worker.storage_ready.is_set)
    await asyncio.sleep(0.2)  # the pass at start-up has run on the empty tables
    for n in range(count):
        runtime.queue.put(_entry(n))
    await wait_until(flushed(runtime, count))


def _logs_stored(runtime: Any, count: int) -> Any:
    """Condition: exactly ``count`` log rows in storage."""

    async def condition() -> bool:
        return bool((await runtime.storage.overview()).log_count == count)

    return condition


async def test_a_flood_of_rows_brings_the_next_retention_pass_forward(tmp_path: Path) -> None:
    # With an hour between passes, 1,500 new rows over a cap of 10 would sit on disk for
    # an hour; once as many rows as the smaller cap (at least 1,000) have been written,
    # the next pass starts a second after the last one instead.
    app, runtime = make_app(
        tmp_path, worker_interval_seconds=3600, max_entries=10, request_max_entries=10
    )
    async with lifespan(app):
        await _write_after_first_pass(runtime, 1500)
        await wait_until(_logs_stored(runtime, 10), timeout=5)
        messages = [e.message for e in await stored_logs(runtime)]
        assert messages == [str(n) for n in range(1499, 1489, -1)]


async def test_a_trickle_waits_for_the_interval(tmp_path: Path) -> None:
    # Fewer rows than the early-pass threshold: the cap is applied at the next interval.
    app, runtime = make_app(
        tmp_path, worker_interval_seconds=4, max_entries=10, request_max_entries=10
    )
    async with lifespan(app):
        await _write_after_first_pass(runtime, 50)
        await asyncio.sleep(1.2)  # past the minimum gap: no early pass for 50 rows
        assert await _logs_stored(runtime, 50)()
        await wait_until(_logs_stored(runtime, 10), timeout=8)
