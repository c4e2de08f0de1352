"""Background task that fills a backend's search index behind the writer.

The writer only inserts rows; this task later copies new rows into the search
index in chunks. While the writer is busy it takes at most ~1/(1+BUSY_BACKOFF)
of the time (so ingest stays near full speed during bursts); when writes pause
it catches up at full speed. Searches are complete either way (the unindexed
tail is scanned), so lagging only costs speed, never results.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from fastapi_flare.schema import StorageError

logger = logging.getLogger("fastapi_flare")

# Wait this long after a write before indexing: batches pile up into one chunk.
DEBOUNCE_SECONDS = 0.2
# A write within this window means "the writer is busy".
BUSY_WINDOW_SECONDS = 1.0
# While busy, sleep this many times the last chunk's duration between chunks.
BUSY_BACKOFF = 6.0
# Re-check for pending rows this often even without a notification (other
# processes write to the same tables).
IDLE_POLL_SECONDS = 5.0
ERROR_BACKOFF_SECONDS = 5.0

# step(max_rows) -> rows indexed in one short transaction.
Step = Callable[[int], Awaitable[int]]


class BackgroundIndexer:
    """Runs ``step`` repeatedly in a task of its own until stopped."""

    def __init__(self, step: Step, chunk_rows: int, name: str) -> None:
        self._step = step
        self._chunk_rows = chunk_rows
        self._name = name
        self._wake = asyncio.Event()
        self._last_write = 0.0
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def start(self) -> None:
        """Start the task (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"fastapi-flare-indexer-{self._name}"
            )

    async def stop(self) -> None:
        """Cancel the task and wait for it to finish."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def notify_write(self) -> None:
        """Called after each write: there is something new to index."""
        self._last_write = time.monotonic()
        self._wake.set()

    async def _run(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancel that lands just after the event is set, and stop() would hang.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_POLL_SECONDS):
                    await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(DEBOUNCE_SECONDS)
            await self._drain()

    async def _drain(self) -> None:
        while True:
            started = time.monotonic()
            try:
                done = await self._step(self._chunk_rows)
            except StorageError as exc:
                # Storage down: the writer reports that; retry quietly later.
                if not self._failing:
                    logger.warning("search indexing paused: %s", exc)
                self._failing = True
                await asyncio.sleep(ERROR_BACKOFF_SECONDS)
                return
            except Exception:
                logger.exception("search indexing failed")
                await asyncio.sleep(ERROR_BACKOFF_SECONDS)
                return
            self._failing = False
            if done < self._chunk_rows:
                return
            elapsed = time.monotonic() - started
            busy = time.monotonic() - self._last_write < BUSY_WINDOW_SECONDS
            await asyncio.sleep(elapsed * BUSY_BACKOFF if busy else 0)
