"""FlareRuntime: the objects one ``setup(app)`` call wires together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi_flare.capture.entries import EntryFactory
from fastapi_flare.capture.middleware import MetricsSink
from fastapi_flare.config import FlareConfig
from fastapi_flare.queue import FlareQueue
from fastapi_flare.service import FlareService
from fastapi_flare.storage.base import Storage
from fastapi_flare.worker import FlareWorker

logger = logging.getLogger("fastapi_flare")


class FlareRuntime:
    """Config, queue, storage, worker and service of one app (``app.state.flare``)."""

    def __init__(self, config: FlareConfig, storage: Storage) -> None:
        self.config = config
        self.storage = storage
        self.queue = FlareQueue(config.queue_max_size)
        self.entry_factory = EntryFactory(config)
        self.worker = FlareWorker(config, storage, self.queue)
        self.service = FlareService(config, storage, self.queue)
        self.metrics: MetricsSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_callbacks: list[Callable[[], Awaitable[object]]] = []

    def on_stop(self, callback: Callable[[], Awaitable[object]] | None) -> None:
        """Await ``callback`` at shutdown, after the queue is flushed."""
        if callback is not None:
            self._stop_callbacks.append(callback)

    def ensure_started(self) -> None:
        """Start the worker on the current loop when no lifespan started it.

        Covers servers run with lifespan off; a cheap flag check on the hot path.
        """
        if self._loop is not None:
            return
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self.worker.start()

    async def start(self) -> None:
        """Start background work (called from the app's lifespan)."""
        self._loop = asyncio.get_running_loop()
        self.worker.start()

    async def stop(self) -> None:
        """Flush everything accepted, then close storage."""
        await self.worker.stop()
        for callback in self._stop_callbacks:
            try:
                await callback()
            except Exception:
                logger.warning("fastapi_flare shutdown callback failed", exc_info=True)
        self._loop = None
