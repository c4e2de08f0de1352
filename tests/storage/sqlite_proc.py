"""Entry point of the child processes that write to one SQLite file at the same time."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from fastapi_flare.schema import FlareLogEntry, FlareRequestEntry


async def _write(path: str, proc_no: int, batches: int, batch_size: int) -> None:
    from fastapi_flare.storage.sqlite import SqliteStorage

    # Short busy timeout on purpose: the writers must queue, not time out.
    storage = SqliteStorage(path, busy_timeout_ms=5000)
    await storage.open()
    try:
        for batch in range(batches):
            now = datetime.now(UTC)
            await storage.save_logs(
                [
                    FlareLogEntry(
                        timestamp=now,
                        level="ERROR" if i % 2 else "WARNING",
                        event="proc",
                        message=f"p{proc_no} b{batch} i{i}",
                    )
                    for i in range(batch_size)
                ]
            )
            await storage.save_requests(
                [
                    FlareRequestEntry(
                        timestamp=now, method="GET", path=f"/p{proc_no}", status=500, duration_ms=1
                    )
                ]
            )
            if batch % 10 == 0:
                await storage.prune(
                    older_than=datetime(2000, 1, 1, tzinfo=UTC),
                    max_entries=10**9,
                    max_requests=10**9,
                )
    finally:
        await storage.close()


def write_entries(path: str, proc_no: int, batches: int, batch_size: int) -> None:
    """Open the file, write ``batches`` batches, close; exit code 1 on any error."""
    try:
        asyncio.run(_write(path, proc_no, batches, batch_size))
    except BaseException as exc:
        print(f"writer {proc_no} failed: {exc!r}", file=sys.stderr)
        sys.exit(1)
