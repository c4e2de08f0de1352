"""FlareService: the one object capture, the worker and the dashboard talk to."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi_flare.config import FlareConfig
from fastapi_flare.schema import (
    FlareLogEntry,
    FlareRequestEntry,
    LogQuery,
    LogStats,
    Page,
    RequestQuery,
    StorageError,
    StorageOverview,
)
from fastapi_flare.storage.base import Storage

if TYPE_CHECKING:
    from fastapi_flare.queue import FlareQueue

logger = logging.getLogger("fastapi_flare")


@dataclass(slots=True)
class QueueStatus:
    """Queue facts for the dashboard."""

    depth: int
    capacity: int
    dropped: int
    written: int


class StorageUnavailable(Exception):
    """Raised to the dashboard when storage cannot answer; carries a short reason."""


class FlareService:
    """Reads for the dashboard, with storage failures turned into one exception type."""

    def __init__(self, config: FlareConfig, storage: Storage, queue: FlareQueue) -> None:
        self.config = config
        self.storage = storage
        self.queue = queue

    def queue_status(self) -> QueueStatus:
        """Current depth, capacity and counters of the in-process queue."""
        return QueueStatus(
            depth=self.queue.depth,
            capacity=self.queue.capacity,
            dropped=self.queue.dropped,
            written=self.queue.written,
        )

    async def list_logs(self, query: LogQuery) -> Page[FlareLogEntry]:
        """A page of log entries."""
        try:
            return await self.storage.list_logs(query)
        except StorageError as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def get_log(self, entry_id: str) -> FlareLogEntry | None:
        """One log entry or None."""
        try:
            return await self.storage.get_log(entry_id)
        except StorageError as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def list_events(self) -> list[str]:
        """Distinct event names (empty when storage is down)."""
        try:
            return await self.storage.list_events()
        except StorageError:
            return []

    async def stats(self, now: datetime | None = None) -> LogStats:
        """Stats cards for the last 24 hours."""
        try:
            return await self.storage.stats(now or datetime.now(UTC))
        except StorageError as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def list_requests(self, query: RequestQuery) -> Page[FlareRequestEntry]:
        """A page of tracked requests."""
        try:
            return await self.storage.list_requests(query)
        except StorageError as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def get_request(self, entry_id: str) -> FlareRequestEntry | None:
        """One tracked request or None."""
        try:
            return await self.storage.get_request(entry_id)
        except StorageError as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def overview(self) -> StorageOverview:
        """Storage panel facts; never raises."""
        try:
            return await self.storage.overview()
        except Exception as exc:  # overview must render whatever happened
            logger.debug("storage overview failed", exc_info=True)
            return StorageOverview(
                backend=getattr(self.storage, "backend_name", "unknown"),
                connected=False,
                error=str(exc) or type(exc).__name__,
            )
