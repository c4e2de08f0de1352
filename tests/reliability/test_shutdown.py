"""Stopping a real uvicorn process while entries are still queued.

SIGTERM: uvicorn runs the lifespan shutdown, Flare drains its queue before the
storage closes, so every answered failing request is in the file. SIGKILL: no
code runs; at most what was still queued (plus the batch being written) is lost
and the SQLite file stays consistent.
"""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.reliability.faults import record, sqlite_rows
from tests.reliability.servers import UvicornServer, hammer

pytestmark = pytest.mark.slow

FAILING = 400
BATCH = 10
MAX_BATCH = 40  # what a writer catching up may take at once (worker_max_batch_size)
# Seconds per save_logs call (batches of 10). SIGTERM: 400 log entries need at most 4 s,
# well inside the 10 s drain budget. SIGKILL: 8 s, so plenty is still queued at the kill.
SAVE_DELAY = {"sigterm": "0.1", "sigkill": "0.2"}


@pytest.fixture
def server_env(tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    """Flare on a SQLite file, small batches, slow log writes, a roomy queue."""
    signal_name = "sigkill" if "sigkill" in request.node.name else "sigterm"
    return {
        "FLARE_SQLITE_PATH": str(tmp_path / "data" / "flare.db"),
        "FLARE_WORKER_BATCH_SIZE": str(BATCH),
        "FLARE_WORKER_MAX_BATCH_SIZE": str(MAX_BATCH),
        "FLARE_QUEUE_MAX_SIZE": "100000",
        "FLARE_MAX_ENTRIES": "100000",
        "FLARE_REQUEST_MAX_ENTRIES": "100000",
        "RELIABILITY_SAVE_DELAY": SAVE_DELAY[signal_name],
    }


@pytest.fixture
def server(tmp_path: Path, server_env: dict[str, str]) -> Iterator[UvicornServer]:
    """One uvicorn process; killed in the finalizer if a test left it running."""
    running = UvicornServer(tmp_path / "uvicorn.log", server_env)
    try:
        yield running
    finally:
        running.close()


def failing_paths(count: int) -> list[str]:
    """Half unhandled exceptions (500), half HTTPException (404)."""
    return ["/boom" if n % 2 else "/items/999" for n in range(count)]


async def queue_state(server: UvicornServer) -> dict[str, int]:
    """The server's own queue counters."""
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        state: dict[str, int] = (await http.get("/queue")).json()
    return state


async def test_sigterm_flushes_every_accepted_entry(
    server: UvicornServer, server_env: dict[str, str]
) -> None:
    await server.wait_ready()
    statuses = await hammer(server.base_url, failing_paths(FAILING))
    assert statuses == {404: FAILING // 2, 500: FAILING // 2}
    state = await queue_state(server)
    assert state["dropped"] == 0
    pending = state["accepted"] - state["written"]
    assert pending > 0, "nothing was pending: the test would prove nothing"

    # uvicorn shuts down gracefully, then re-raises the signal it caught (exit -15).
    assert await server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert "Application shutdown complete." in server.output()
    logs, requests = sqlite_rows(server_env["FLARE_SQLITE_PATH"])
    assert (logs, requests) == (FAILING, FAILING)
    assert "Traceback" not in server.output().split("Shutting down")[-1]
    record(
        "sigterm with pending entries", requests=FAILING, pending=pending, stored=logs + requests
    )


async def test_sigkill_loses_at_most_the_queue(
    server: UvicornServer, server_env: dict[str, str]
) -> None:
    await server.wait_ready()
    statuses = await hammer(server.base_url, failing_paths(FAILING))
    assert sum(statuses.values()) == FAILING
    state = await queue_state(server)
    assert state["depth"] > 0, "nothing was queued: the test would prove nothing"

    assert await server.stop(signal.SIGKILL) == -signal.SIGKILL
    path = server_env["FLARE_SQLITE_PATH"]
    with closing(sqlite3.connect(path)) as db:  # recovers the WAL, as the next start would
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    logs, requests = sqlite_rows(path)
    produced = 2 * FAILING
    lost = produced - (logs + requests)
    # Lost: what was still queued when we looked, plus the one batch in flight.
    assert 0 <= lost <= state["depth"] + MAX_BATCH
    record(
        "sigkill with queued entries",
        requests=FAILING,
        queued_at_kill=state["depth"],
        stored=logs + requests,
        lost=lost,
    )
