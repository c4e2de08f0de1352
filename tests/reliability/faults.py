"""Fault injectors and measurements shared by the reliability tests.

Everything here acts on real resources: tmpfs mounts (root only), a second
process holding SQLite's write lock, and timed in-process HTTP traffic.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from bs4 import BeautifulSoup

from fastapi_flare.queue import FlareQueue
from tests.conftest import unavailable

# Status each probe path answers with, with or without Flare (tests.core.conftest app).
EXPECTED_STATUS: dict[str, int] = {"/ok": 200, "/boom": 500, "/items/999": 404}
FAILING_PATHS = ("/boom", "/items/999")
# Every failing request yields two queue entries: the log entry and the tracked request.
ENTRIES_PER_FAILURE = 2
# A request under a fault may be this many times slower (p99) than without it. An app
# that waited for storage would be ~100x slower (busy timeouts are seconds long).
LATENCY_RATIO = 8.0
REPORT_ENV = "FLARE_RELIABILITY_REPORT"


def require_root_mounts() -> None:
    """Skip (fail in CI) unless this process may mount file systems."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        unavailable("mounting a tmpfs needs root and mount(8)")


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"mount {' '.join(args)} failed: {result.stderr.strip()}")


def _umount(path: Path) -> None:
    # A process of ours may still hold a file there for a moment; retry, then detach lazily
    # so the test run never leaves a mount behind.
    for _ in range(50):
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode == 0:
            return
        time.sleep(0.1)
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@contextmanager
def tmpfs(path: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path``; always unmounted on exit."""
    require_root_mounts()
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0755" + (",ro" if read_only else "")
    _mount("-t", "tmpfs", "-o", options, "tmpfs", str(path))
    try:
        yield path
    finally:
        _umount(path)


def remount(path: Path, options: str) -> None:
    """``mount -o remount,<options>`` (read-only, read-write, a new size)."""
    _mount("-o", f"remount,{options}", str(path))


class SqliteLocker:
    """Another process that holds ``BEGIN EXCLUSIVE`` on a SQLite file until released."""

    SCRIPT = (
        "import sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n"
        "db.execute('BEGIN EXCLUSIVE')\n"
        "print('locked', flush=True)\n"
        "sys.stdin.readline()\n"
        "db.execute('ROLLBACK')\n"
        "db.close()\n"
    )

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "locked":
            self.release()
            raise RuntimeError("the locking process could not take the lock")

    def release(self) -> None:
        """Let the other process roll back and exit."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("\n")
            self.process.stdin.flush()
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def percentile(samples: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1)."""
    ordered = sorted(samples)
    rank = max(1, round(share * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Traffic:
    """Requests sent by ``drive`` and how long each took."""

    sent: int = 0
    failing: int = 0
    max_depth: int = 0
    latencies: list[float] = field(default_factory=list)

    @property
    def p99(self) -> float:
        """99th percentile latency in seconds."""
        return percentile(self.latencies, 0.99)


async def drive(
    http: httpx.AsyncClient,
    count: int,
    *,
    traffic: Traffic | None = None,
    queue: FlareQueue | None = None,
    paths: tuple[str, ...] = ("/ok", "/boom", "/items/999"),
) -> Traffic:
    """Send ``count`` requests one after another; every status must be the app's own.

    With ``queue``, its depth is sampled after every request (the bound must hold).
    """
    traffic = traffic if traffic is not None else Traffic()
    for n in range(count):
        path = paths[n % len(paths)]
        started = time.perf_counter()
        response = await http.get(path)
        traffic.latencies.append(time.perf_counter() - started)
        assert response.status_code == EXPECTED_STATUS[path], (path, response.status_code)
        traffic.sent += 1
        traffic.failing += path in FAILING_PATHS
        # A server yields to the event loop between requests (socket I/O); in-process
        # calls may not, and would starve Flare's writer task in a way no server does.
        await asyncio.sleep(0)
        if queue is not None:
            traffic.max_depth = max(traffic.max_depth, queue.depth)
    return traffic


def assert_still_fast(baseline: Traffic, faulty: Traffic) -> None:
    """The p99 under the fault stays within ``LATENCY_RATIO`` of the no-fault p99."""
    assert faulty.p99 <= LATENCY_RATIO * baseline.p99, (
        f"p99 {faulty.p99 * 1000:.2f} ms under the fault vs {baseline.p99 * 1000:.2f} ms without"
    )


@dataclass(frozen=True)
class DashboardView:
    """What the Errors view shows about drops and storage."""

    dropped_card: str | None
    storage_status: str
    storage_text: str
    dropped_fact: str


async def dashboard_view(http: httpx.AsyncClient, base: str = "/flare") -> DashboardView:
    """Read the Errors page the way a person would: cards and the storage panel."""
    response = await http.get(base)
    assert response.status_code == 200, response.text[:300]
    soup = BeautifulSoup(response.text, "html.parser")
    card = soup.select_one("[data-card=dropped] .card-value")
    status = soup.select_one("#storage [data-storage-status]")
    panel = soup.select_one("#storage")
    assert status is not None and panel is not None
    facts = {
        dt.get_text(strip=True): dd.get_text(strip=True)
        for dt, dd in zip(panel.select("dt"), panel.select("dd"), strict=True)
    }
    return DashboardView(
        dropped_card=card.get_text(strip=True) if card is not None else None,
        storage_status=status.get_text(strip=True),
        storage_text=panel.get_text(" ", strip=True),
        dropped_fact=facts["Dropped"],
    )


def record(name: str, **figures: Any) -> None:
    """Append measured figures to the report file named by ``FLARE_RELIABILITY_REPORT``."""
    target = os.environ.get(REPORT_ENV)
    if not target:
        return
    with open(target, "a", encoding="utf-8") as out:
        out.write(json.dumps({"test": name, **figures}, default=str) + "\n")


def sqlite_rows(path: Path | str) -> tuple[int, int]:
    """(log rows, request rows) in a SQLite file, read by a separate connection."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        logs = db.execute("SELECT count(*) FROM flare_logs").fetchone()[0]
        requests = db.execute("SELECT count(*) FROM flare_requests").fetchone()[0]
    return int(logs), int(requests)
