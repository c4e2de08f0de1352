"""The background writer (batches from the queue) and the retention loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from fastapi_flare.config import FlareConfig
from fastapi_flare.queue import FlareQueue, QueueItem
from fastapi_flare.schema import FlareLogEntry, FlareRequestEntry, StorageError
from fastapi_flare.storage.base import Storage

logger = logging.getLogger("fastapi_flare")

INITIAL_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
DEFAULT_DRAIN_TIMEOUT_SECONDS = 10.0
# How long the writer waits for a partial batch to fill before writing it.
WRITE_LINGER_SECONDS = 0.05

# A retention pass that removed at least this many rows was behind: entries arrive
# faster than one pass per interval removes them, so the next pass starts at once
# (up to MAX_CATCH_UP_PASSES in a row, then the periodic jobs get their turn).
RETENTION_CATCH_UP_ROWS = 1000
MAX_CATCH_UP_PASSES = 10
# Under a flood, a pass per interval lets the tables hold the caps plus a whole interval
# of arrivals (~70,000 rows at 7,000 errors/s), all written to disk before they go. A pass
# therefore also starts once the writer has stored as many rows as the smaller cap (at
# least EARLY_RETENTION_MIN_ROWS) since the last one, but never sooner than
# MIN_RETENTION_GAP_SECONDS after it.
EARLY_RETENTION_MIN_ROWS = 1000
MIN_RETENTION_GAP_SECONDS = 1.0

# Periodic jobs run beside retention (metrics flushes, for instance).
PeriodicJob = Callable[[Storage], Awaitable[None]]


class FailureLog:
    """Logs a failure once per episode, and the recovery once when it ends."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failing = False

    def failed(self, exc: BaseException) -> None:
        """Note a failure; only the first of an episode is logged."""
        if not self.failing:
            self.failing = True
            logger.warning("fastapi_flare %s failed: %s (will retry)", self.what, exc)

    def succeeded(self) -> None:
        """Note a success; logs the end of a failure episode."""
        if self.failing:
            self.failing = False
            logger.warning("fastapi_flare %s recovered", self.what)


class FlareWorker:
    """Owns the storage connection lifecycle, the writer task and the retention task."""

    def __init__(self, config: FlareConfig, storage: Storage, queue: FlareQueue) -> None:
        self.config = config
        self.storage = storage
        self.queue = queue
        self.periodic_jobs: list[PeriodicJob] = []
        self.storage_ready = asyncio.Event()
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._retention: asyncio.Task[None] | None = None
        self._retention_due = asyncio.Event()
        self._written_at_last_pass = 0
        self._early_retention_rows = max(
            EARLY_RETENTION_MIN_ROWS, min(config.max_entries, config.request_max_entries)
        )
        self._open_log = FailureLog("storage connection")
        self._write_log = FailureLog("storage write")
        self._retention_log = FailureLog("retention")

    @property
    def running(self) -> bool:
        """True between ``start`` and ``stop``."""
        return self._writer is not None and not self._writer.done()

    def start(self) -> None:
        """Start the background tasks on the running loop (idempotent)."""
        if self.running:
            return
        self._stopping = False
        self._stop_requested.clear()
        self._writer = asyncio.create_task(self._write_loop(), name="fastapi_flare.writer")
        self._retention = asyncio.create_task(
            self._retention_loop(), name="fastapi_flare.retention"
        )

    async def stop(self, timeout: float = DEFAULT_DRAIN_TIMEOUT_SECONDS) -> None:
        """Drain the queue (up to ``timeout`` seconds), then close storage."""
        self._stopping = True
        self._stop_requested.set()
        self.queue.wake()
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
        if self._writer is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), timeout)
            except TimeoutError:
                self._writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._writer
                self._count_lost("storage unavailable")
        if self.storage_ready.is_set():
            await self._run_periodic_jobs()
        with contextlib.suppress(Exception):
            await self.storage.close()
        self.storage_ready.clear()
        self._writer = self._retention = None

    def _count_lost(self, reason: str) -> None:
        lost = self.queue.depth
        if lost:
            self.queue.lost += lost
            logger.error("fastapi_flare shutdown: %s, %d queued entries lost", reason, lost)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up early when shutdown begins."""
        if self._stopping:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stop_requested.wait()

    async def _open_storage(self) -> bool:
        backoff = INITIAL_BACKOFF_SECONDS
        while not self.storage_ready.is_set():
            try:
                await self.storage.open()
            except StorageError as exc:
                self._open_log.failed(exc)
                if self._stopping:
                    self._count_lost("storage could not be opened")
                    return False
                await self._pause(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            else:
                self._open_log.succeeded()
                self.storage_ready.set()
        return True

    async def _write_loop(self) -> None:
        if not await self._open_storage():
            return
        pending: list[QueueItem] = []
        backoff = INITIAL_BACKOFF_SECONDS
        while True:
            if not pending:
                if self.queue.depth == 0:
                    if self._stopping:
                        return
                    await self.queue.wait()
                    continue
                if self.queue.depth < self.config.worker_batch_size and not self._stopping:
                    # Let a trickle gather: each write has a fixed cost (~0.6 ms on
                    # SQLite) that a batch of one pays in full.
                    await self._pause(WRITE_LINGER_SECONDS)
                pending = self.queue.take(self._batch_limit())
            try:
                await self._write_batch(pending)
            except StorageError as exc:
                self._write_log.failed(exc)
                # Keep the batch and retry it: an accepted entry is never thrown away
                # while the process lives; the bounded queue absorbs new arrivals.
                await self._pause(min(backoff, 0.5) if self._stopping else backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            except Exception:
                # Not an outage: the storage refused a value in this batch (a driver
                # error outside StorageError). Retrying would fail forever, so write
                # the entries one by one and give up only on the ones refused.
                pending = await self._write_singly(pending)
                if pending:  # an outage began halfway: retry the rest as a batch
                    continue
            else:
                self._write_log.succeeded()
            backoff = INITIAL_BACKOFF_SECONDS

    def _batch_limit(self) -> int:
        """``worker_batch_size``; up to ``worker_max_batch_size`` while a backlog waits.

        Each write waits a turn of the busy event loop and of the GIL, so under a
        burst the number of round trips, not the rows, limits how fast the queue
        empties: at 100 entries a write, a server at full load on a failing route
        dropped most of its entries; catching up in larger writes dropped none.
        """
        size = self.config.worker_batch_size
        return size if self.queue.depth <= size else max(size, self.config.worker_max_batch_size)

    async def _write_singly(self, batch: list[QueueItem]) -> list[QueueItem]:
        """Write entries one at a time; refused ones are counted as lost.

        Returns the entries not yet tried when a storage outage interrupted.
        """
        for index, item in enumerate(batch):
            try:
                await self._write_batch([item])
            except StorageError as exc:
                self._write_log.failed(exc)
                return batch[index:]
            except Exception:
                self.queue.lost += 1
                logger.exception(
                    "fastapi_flare: storage refused a %s entry; it is dropped",
                    type(item).__name__,
                )
        return []

    async def _write_batch(self, batch: list[QueueItem]) -> None:
        """Write the logs, then the requests, each in one transaction.

        What committed leaves ``batch`` at once: when the second transaction fails,
        the retry must not write the first one's entries a second time.
        """
        logs = [item for item in batch if isinstance(item, FlareLogEntry)]
        requests = [item for item in batch if isinstance(item, FlareRequestEntry)]
        if logs:
            await self.storage.save_logs(logs)
            self.queue.written += len(logs)
            batch[:] = requests
        if requests:
            await self.storage.save_requests(requests)
            self.queue.written += len(requests)
        batch.clear()
        if self.queue.written - self._written_at_last_pass >= self._early_retention_rows:
            self._retention_due.set()

    async def _retention_loop(self) -> None:
        await self.storage_ready.wait()
        interval = self.config.worker_interval_seconds
        loop = asyncio.get_running_loop()
        jobs_due = 0.0
        while True:
            self._retention_due.clear()
            self._written_at_last_pass = self.queue.written
            for _ in range(MAX_CATCH_UP_PASSES):
                if await self.run_retention() < RETENTION_CATCH_UP_ROWS:
                    break
            # The periodic jobs keep their interval when retention runs early.
            if loop.time() >= jobs_due:
                await self._run_periodic_jobs()
                jobs_due = loop.time() + interval
            gap = min(MIN_RETENTION_GAP_SECONDS, interval)
            await asyncio.sleep(gap)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval - gap):
                    await self._retention_due.wait()

    async def run_retention(self) -> int:
        """One retention pass; returns the rows it removed. Failures are logged once per episode."""
        cutoff = datetime.now(UTC) - timedelta(hours=self.config.retention_hours)
        try:
            result = await self.storage.prune(
                older_than=cutoff,
                max_entries=self.config.max_entries,
                max_requests=self.config.request_max_entries,
            )
        except StorageError as exc:
            self._retention_log.failed(exc)
            return 0
        self._retention_log.succeeded()
        return result.logs + result.requests + result.metrics

    async def _run_periodic_jobs(self) -> None:
        for job in self.periodic_jobs:
            try:
                await job(self.storage)
            except Exception:
                logger.warning("fastapi_flare periodic job %r failed", job, exc_info=True)
