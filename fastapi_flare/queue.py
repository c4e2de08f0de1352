"""The bounded in-process queue between capture and the writer, and ``push_log``."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from fastapi_flare.schema import LEVELS, FlareError, FlareLogEntry, FlareRequestEntry, Level

if TYPE_CHECKING:
    from fastapi_flare.config import FlareConfig

logger = logging.getLogger("fastapi_flare")

QueueItem = FlareLogEntry | FlareRequestEntry


class FlareQueue:
    """A bounded FIFO: ``put`` never blocks or raises; overflow is counted as dropped.

    Capture runs on the event loop, so a deque plus an ``asyncio.Event`` is enough;
    the writer is the only consumer.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[QueueItem] = deque()
        self._ready = asyncio.Event()
        self.accepted = 0
        self.dropped = 0
        self.written = 0
        self.lost = 0

    @property
    def depth(self) -> int:
        """Entries waiting to be written."""
        return len(self._items)

    def put(self, item: QueueItem) -> bool:
        """Enqueue without waiting; False (and counted) when the queue is full."""
        if len(self._items) >= self.capacity:
            self.dropped += 1
            return False
        self._items.append(item)
        self.accepted += 1
        self._ready.set()
        return True

    def take(self, limit: int) -> list[QueueItem]:
        """Remove and return up to ``limit`` items, oldest first."""
        items = self._items
        count = min(limit, len(items))
        batch = [items.popleft() for _ in range(count)]
        if not items:
            self._ready.clear()
        return batch

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until something is queued; False on timeout."""
        if self._items:
            return True
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError:
            return False
        return True

    def wake(self) -> None:
        """Wake a waiting consumer (used at shutdown)."""
        self._ready.set()


def _queue_for(config: FlareConfig) -> FlareQueue:
    runtime = config.runtime
    if runtime is None:
        raise FlareError(
            "push_log() needs the FlareConfig that was passed to setup(app, config=...); "
            "with setup(app) use push_log(app.state.flare.config, ...)"
        )
    return cast("FlareQueue", runtime.queue)


async def push_log(
    config: FlareConfig,
    *,
    level: Level = "ERROR",
    event: str,
    message: str,
    context: dict[str, Any] | None = None,
    error: str | None = None,
    stack_trace: str | None = None,
    request_id: str | None = None,
    endpoint: str | None = None,
    http_method: str | None = None,
    http_status: int | None = None,
    fingerprint: str | None = None,
    exc: BaseException | None = None,
) -> bool:
    """Queue a custom log entry; returns False when the queue was full (the entry is counted).

    Never waits for storage. Context values that are not JSON are stored through a
    safe fallback, secrets are masked and sizes capped like captured entries.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    queue = _queue_for(config)
    runtime = config.runtime
    assert runtime is not None
    entry = runtime.entry_factory.custom(
        level=level,
        event=event,
        message=message,
        context=context,
        error=error,
        stack_trace=stack_trace,
        request_id=request_id,
        endpoint=endpoint,
        http_method=http_method,
        http_status=http_status,
        fingerprint=fingerprint,
        exc=exc,
        now=datetime.now(UTC),
    )
    return queue.put(entry)
