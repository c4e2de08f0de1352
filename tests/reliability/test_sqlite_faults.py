"""Faults on a real SQLite file under traffic: the host app never notices, Flare recovers.

Each test measures a no-fault baseline first, injects one fault for real (a full
tmpfs, a second process holding the write lock, a read-only file system, a
deleted file, a storage far slower than traffic), checks status codes, latency,
the queue bound, the drop counter and the dashboard, then removes the fault and
checks that every accepted entry reaches the file.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from fastapi_flare.dashboard.formatting import format_number
from fastapi_flare.runtime import FlareRuntime
from fastapi_flare.schema import FlareLogEntry
from fastapi_flare.storage.sqlite import SqliteStorage
from tests.core.conftest import make_app
from tests.helpers import client, lifespan, wait_until
from tests.reliability.faults import (
    ENTRIES_PER_FAILURE,
    DashboardView,
    SqliteLocker,
    Traffic,
    assert_still_fast,
    dashboard_view,
    drive,
    record,
    remount,
    require_root_mounts,
    sqlite_rows,
    tmpfs,
)

pytestmark = pytest.mark.slow

QUEUE = 200
BASELINE_REQUESTS = 200


def settled(runtime: FlareRuntime) -> Callable[[], bool]:
    """Condition: every accepted entry has been written."""
    queue = runtime.queue
    return lambda: queue.depth == 0 and queue.written == queue.accepted


def accounted(runtime: FlareRuntime, *traffic: Traffic) -> None:
    """Every entry produced was either accepted or counted as dropped."""
    failing = sum(t.failing for t in traffic)
    queue = runtime.queue
    assert queue.accepted + queue.dropped == ENTRIES_PER_FAILURE * failing
    assert max(t.max_depth for t in traffic) <= queue.capacity


def panel_reports(view: DashboardView, words: Sequence[str]) -> bool:
    """True when the storage panel tells a person that storage is failing."""
    text = view.storage_text.lower()
    return view.storage_status != "Connected" or any(word in text for word in words)


def fault_app(tmp_path: Path, db: Path, **options: Any) -> tuple[Any, FlareRuntime]:
    """The host app with Flare on ``db``, a small queue and a fast retention loop."""
    options.setdefault("queue_max_size", QUEUE)
    # Retention must not trim what the test counts (the requests table is a ring buffer).
    options.setdefault("max_entries", 100_000)
    options.setdefault("request_max_entries", 100_000)
    options.setdefault("worker_interval_seconds", 0.5)
    return make_app(tmp_path, sqlite_path=str(db), **options)


def fill(path: Path) -> int:
    """Write zeros to ``path`` until the file system is full; bytes written."""
    chunk = b"\0" * 65536
    written = 0
    # Unbuffered: a buffered file would retry the failed bytes on close and raise there.
    with path.open("wb", buffering=0) as out:
        try:
            while True:
                written += out.write(chunk) or 0
        except OSError:
            pass
    return written


def write_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Messages of the writer's 'storage write failed' warnings."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "fastapi_flare" and "storage write failed" in r.getMessage()
    ]


async def test_full_disk_drops_are_counted_and_writes_resume(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="fastapi_flare")
    with tmpfs(tmp_path / "disk", "16m") as disk:
        db = disk / "flare.db"
        app, runtime = fault_app(tmp_path, db)
        queue = runtime.queue
        async with lifespan(app), client(app) as http:
            await wait_until(runtime.worker.storage_ready.is_set)
            baseline = await drive(http, BASELINE_REQUESTS, queue=queue)
            await wait_until(settled(runtime), timeout=15)

            filler = disk / "filler"
            fill(filler)
            fault = Traffic()
            for _ in range(40):  # until SQLite needs a block the disk no longer has
                await drive(http, 60, traffic=fault, queue=queue)
                if write_failures(caplog):
                    break
            failures = write_failures(caplog)
            assert failures, "the writer never hit the full disk"
            await drive(http, 300, traffic=fault, queue=queue)
            assert queue.depth == QUEUE and queue.dropped > 0
            view = await dashboard_view(http)
            assert view.dropped_card == format_number(queue.dropped)
            assert view.dropped_fact == format_number(queue.dropped)
            panel_ok = panel_reports(view, ("disk is full",))
            assert len(write_failures(caplog)) == 1, "a failure episode is logged once"
            assert "full" in failures[0]

            filler.unlink()
            await wait_until(settled(runtime), timeout=20)
            after = await drive(http, 30, queue=queue)
            await wait_until(settled(runtime), timeout=10)
            logs, requests = sqlite_rows(db)
        assert_still_fast(baseline, fault)
        accounted(runtime, baseline, fault, after)
        assert logs + requests == queue.written == queue.accepted
        record(
            "sqlite full disk",
            requests=baseline.sent + fault.sent + after.sent,
            stored=logs + requests,
            dropped=queue.dropped,
            p99_ms=(baseline.p99 * 1000, fault.p99 * 1000),
        )
        assert panel_ok, f"the storage panel shows no write failure: {view.storage_text!r}"


async def test_write_lock_held_by_another_process(tmp_path: Path) -> None:
    db = tmp_path / "data" / "flare.db"
    app, runtime = fault_app(tmp_path, db)
    queue = runtime.queue
    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set)
        baseline = await drive(http, BASELINE_REQUESTS, queue=queue)
        await wait_until(settled(runtime), timeout=15)

        locker = SqliteLocker(db)
        try:
            locked_at = time.monotonic()
            # The writer takes one batch (up to a full queue, 200) before the lock stops
            # it; 600 entries refill the queue after it whenever that take happens.
            fault = await drive(http, 450, queue=queue)
            assert queue.dropped > 0 and queue.depth == QUEUE
            # Past SQLite's 5 s busy timeout the writer's attempt fails and is retried.
            await asyncio.sleep(max(0.0, locked_at + 5.8 - time.monotonic()))
            await drive(http, 150, traffic=fault, queue=queue)
            view = await dashboard_view(http)
        finally:
            locker.release()
        assert view.dropped_card == format_number(queue.dropped)
        panel_ok = panel_reports(view, ("database is locked",))

        await wait_until(settled(runtime), timeout=20)
        after = await drive(http, 30, queue=queue)
        await wait_until(settled(runtime), timeout=10)
        logs, requests = sqlite_rows(db)
    assert_still_fast(baseline, fault)
    accounted(runtime, baseline, fault, after)
    assert logs + requests == queue.written == queue.accepted
    record(
        "sqlite locked by another process",
        requests=baseline.sent + fault.sent + after.sent,
        stored=logs + requests,
        dropped=queue.dropped,
        p99_ms=(baseline.p99 * 1000, fault.p99 * 1000),
    )
    assert panel_ok, f"the storage panel shows no lock problem: {view.storage_text!r}"


async def test_storage_far_slower_than_traffic(tmp_path: Path) -> None:
    db = tmp_path / "data" / "flare.db"
    app, runtime = fault_app(tmp_path, db, worker_batch_size=20)
    queue = runtime.queue
    original = runtime.storage.save_logs
    delay = {"seconds": 0.0}

    async def slow_save(entries: Sequence[FlareLogEntry]) -> None:
        await asyncio.sleep(delay["seconds"])
        await original(entries)

    runtime.storage.save_logs = slow_save  # type: ignore[method-assign]
    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set)
        baseline = await drive(http, BASELINE_REQUESTS, queue=queue)
        await wait_until(settled(runtime), timeout=15)

        delay["seconds"] = 0.25  # at most 80 entries per second get through
        fault = await drive(http, 600, queue=queue)
        assert queue.dropped > 0
        view = await dashboard_view(http)
        assert view.dropped_card == format_number(queue.dropped)
        assert view.storage_status == "Connected"  # slow is not down

        await wait_until(settled(runtime), timeout=20)
        delay["seconds"] = 0.0
        after = await drive(http, 30, queue=queue)
        await wait_until(settled(runtime), timeout=10)
        logs, requests = sqlite_rows(db)
    assert_still_fast(baseline, fault)
    accounted(runtime, baseline, fault, after)
    assert logs + requests == queue.written == queue.accepted
    record(
        "sqlite storage slower than traffic",
        requests=baseline.sent + fault.sent + after.sent,
        stored=logs + requests,
        dropped=queue.dropped,
        p99_ms=(baseline.p99 * 1000, fault.p99 * 1000),
    )


async def _make_database(db: Path) -> None:
    storage = SqliteStorage(str(db))
    await storage.open()
    await storage.close()


async def test_read_only_file_system_at_start_then_writable(tmp_path: Path) -> None:
    healthy_app, healthy = fault_app(tmp_path, tmp_path / "healthy" / "flare.db")
    async with lifespan(healthy_app), client(healthy_app) as http:
        await wait_until(healthy.worker.storage_ready.is_set)
        baseline = await drive(http, BASELINE_REQUESTS)

    with tmpfs(tmp_path / "ro", "8m") as disk:
        db = disk / "flare.db"
        await _make_database(db)
        remount(disk, "ro")
        app, runtime = fault_app(tmp_path, db)
        queue = runtime.queue
        async with lifespan(app), client(app) as http:
            fault = await drive(http, 450, queue=queue)
            assert not runtime.worker.storage_ready.is_set()
            assert queue.written == 0 and queue.depth == QUEUE and queue.dropped > 0
            view = await dashboard_view(http)
            assert view.storage_status == "Unavailable"
            assert view.dropped_fact == format_number(queue.dropped)
            card_shown = view.dropped_card == format_number(queue.dropped)

            remount(disk, "rw")
            await wait_until(settled(runtime), timeout=20)
            after = await drive(http, 30, queue=queue)
            await wait_until(settled(runtime), timeout=10)
            logs, requests = sqlite_rows(db)
    assert_still_fast(baseline, fault)
    accounted(runtime, fault, after)
    assert logs + requests == queue.written == queue.accepted
    record(
        "sqlite read-only at start",
        requests=baseline.sent + fault.sent + after.sent,
        stored=logs + requests,
        dropped=queue.dropped,
        p99_ms=(baseline.p99 * 1000, fault.p99 * 1000),
    )
    assert card_shown, (
        "no 'Dropped entries' card while storage is down: "
        f"card={view.dropped_card!r}, dropped={queue.dropped}"
    )


async def test_directory_turned_read_only_mid_run_loses_nothing(tmp_path: Path) -> None:
    require_root_mounts()
    folder = tmp_path / "data"
    db = folder / "flare.db"
    app, runtime = fault_app(tmp_path, db, queue_max_size=10_000)
    queue = runtime.queue
    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set)
        baseline = await drive(http, BASELINE_REQUESTS, queue=queue)
        await wait_until(settled(runtime), timeout=15)
        # A read-only file system now hides the folder (Linux refuses a plain
        # `remount,ro` while SQLite holds the file open for writing). Flare may keep
        # writing through its open descriptors or wait for the folder to come back:
        # either way nothing accepted may be lost and the app must not notice.
        with tmpfs(folder, "1m", read_only=True):
            assert not db.exists()
            fault = await drive(http, 300, queue=queue)
            await dashboard_view(http)  # renders, whatever the panel says
        after = await drive(http, 30, queue=queue)
        await wait_until(settled(runtime), timeout=20)
        logs, requests = sqlite_rows(db)
    assert_still_fast(baseline, fault)
    accounted(runtime, baseline, fault, after)
    assert queue.dropped == 0
    assert logs + requests == queue.written == queue.accepted


def delete_database(db: Path) -> None:
    """Remove the database file with its WAL and shared memory, as `rm flare.db*` would."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


async def test_file_deleted_mid_run_is_recreated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="fastapi_flare")
    db = tmp_path / "data" / "flare.db"
    app, runtime = fault_app(tmp_path, db)
    queue = runtime.queue
    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set)
        baseline = await drive(http, BASELINE_REQUESTS, queue=queue)
        await wait_until(settled(runtime), timeout=15)
        delete_database(db)
        accepted_before = queue.accepted

        fault = await drive(http, 300, queue=queue)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (db.exists() and settled(runtime)()):
            await asyncio.sleep(0.05)
        recreated = db.exists()
        rows = sum(sqlite_rows(db)) if recreated else 0
        accepted_after = queue.accepted - accepted_before
    assert_still_fast(baseline, fault)
    accounted(runtime, baseline, fault)
    assert recreated and rows == accepted_after, (
        f"{accepted_after} entries were accepted after {db.name} was deleted, but the file "
        f"at its path holds {rows}: they went to the deleted inode and are lost "
        "(SQLite keeps writing to the unlinked file)"
    )
