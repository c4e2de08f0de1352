"""``uvicorn --workers 4`` on one SQLite file and on one PostgreSQL table under load.

Four processes write and prune the same storage at once: no entry is lost, no
"database is locked" reaches the logs, and retention's cap holds afterwards.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest import PG_DSN
from tests.reliability.faults import record
from tests.reliability.pgcluster import drop_tables, pg_rows, unique_table
from tests.reliability.servers import UvicornServer, hammer
from tests.storage.conftest import require_pg

pytestmark = pytest.mark.slow

WORKERS = 4
FAILING = 1000
MAX_ENTRIES = 300


def common_env() -> dict[str, str]:
    """Small log cap, roomy request ring (it proves no loss), fast retention."""
    return {
        "FLARE_MAX_ENTRIES": str(MAX_ENTRIES),
        "FLARE_REQUEST_MAX_ENTRIES": "100000",
        "FLARE_QUEUE_MAX_SIZE": "100000",
        "FLARE_WORKER_INTERVAL_SECONDS": "0.3",
    }


async def eventually(
    check: Callable[[], Awaitable[tuple[int, ...]]], want: tuple[int, ...]
) -> None:
    """Poll ``check`` until it returns ``want`` (20 s at most)."""
    deadline = time.monotonic() + 20
    seen: tuple[int, ...] = ()
    while time.monotonic() < deadline:
        seen = await check()
        if seen == want:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"storage shows {seen}, expected {want}")


async def run_load(server: UvicornServer) -> None:
    """Start the workers, send the failing requests, check every status."""
    await server.wait_ready()
    # One in five raises (a stack trace each); the rest are HTTPException 404s.
    paths = ["/boom" if n % 5 == 0 else "/items/999" for n in range(FAILING)]
    statuses = await hammer(server.base_url, paths, concurrency=8)
    assert statuses == {404: FAILING * 4 // 5, 500: FAILING // 5}


def assert_clean_logs(server: UvicornServer) -> None:
    """No lock errors and no storage failures in any worker's output."""
    output = server.output()
    assert output.count("Application startup complete.") == WORKERS
    assert "database is locked" not in output.lower()
    assert "storage write failed" not in output
    assert "storage connection failed" not in output


def sqlite_counts(path: Path) -> tuple[int, int, int]:
    """(log rows, request rows, log rows ever inserted) of the shared file."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        logs = db.execute("SELECT count(*) FROM flare_logs").fetchone()[0]
        requests = db.execute("SELECT count(*) FROM flare_requests").fetchone()[0]
        # AUTOINCREMENT's high-water mark is transactional: it counts committed inserts.
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'flare_logs'").fetchone()
    return int(logs), int(requests), int(row[0]) if row else 0


async def test_four_workers_share_one_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "data" / "flare.db"
    env = {**common_env(), "FLARE_SQLITE_PATH": str(db)}
    server = UvicornServer(tmp_path / "uvicorn.log", env, workers=WORKERS)
    try:
        started = time.monotonic()
        await run_load(server)

        async def counts() -> tuple[int, ...]:
            return sqlite_counts(db)

        await eventually(counts, (MAX_ENTRIES, FAILING, FAILING))
        assert await server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
        final = sqlite_counts(db)
        assert_clean_logs(server)
    finally:
        server.close()
    assert final == (MAX_ENTRIES, FAILING, FAILING)
    record(
        "4 workers, one SQLite file",
        requests=FAILING,
        log_entries_written=final[2],
        requests_stored=final[1],
        logs_kept=final[0],
        seconds=round(time.monotonic() - started, 1),
    )


@pytest.mark.postgres
async def test_four_workers_share_one_postgres_table(tmp_path: Path) -> None:
    await require_pg()
    table = unique_table()
    env = {
        **common_env(),
        "FLARE_STORAGE_BACKEND": "postgresql",
        "FLARE_PG_DSN": PG_DSN,
        "FLARE_PG_TABLE_NAME": table,
    }
    server = UvicornServer(tmp_path / "uvicorn.log", env, workers=WORKERS)
    try:
        started = time.monotonic()
        await run_load(server)

        async def counts() -> tuple[int, ...]:
            return await pg_rows(PG_DSN, table)

        await eventually(counts, (MAX_ENTRIES, FAILING))
        assert await server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
        final = await pg_rows(PG_DSN, table)
        assert_clean_logs(server)
    finally:
        server.close()
        await drop_tables(PG_DSN, table)
    assert final == (MAX_ENTRIES, FAILING)
    record(
        "4 workers, one PostgreSQL table",
        requests=FAILING,
        requests_stored=final[1],
        logs_kept=final[0],
        seconds=round(time.monotonic() - started, 1),
    )
