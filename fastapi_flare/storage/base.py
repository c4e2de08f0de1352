"""The storage contract every backend fulfils."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from fastapi_flare.schema import (
    FlareLogEntry,
    FlareRequestEntry,
    LogQuery,
    LogStats,
    Page,
    PruneResult,
    RequestQuery,
    StorageOverview,
)


@runtime_checkable
class Storage(Protocol):
    """Async storage for logs and requests.

    Backends return our models, never driver rows, and raise ``StorageError``
    for every failure. Methods may be called concurrently from the writer, the
    retention loop and dashboard requests.
    """

    backend_name: str

    async def open(self) -> None:
        """Connect and create the schema idempotently (safe from many processes)."""

    async def close(self) -> None:
        """Release connections; safe to call twice or after a failed open."""

    async def save_logs(self, entries: Sequence[FlareLogEntry]) -> None:
        """Insert a batch in one transaction."""

    async def save_requests(self, entries: Sequence[FlareRequestEntry]) -> None:
        """Insert a batch of tracked requests in one transaction."""

    async def list_logs(self, query: LogQuery) -> Page[FlareLogEntry]:
        """Newest-first page of log entries matching ``query``."""

    async def get_log(self, entry_id: str) -> FlareLogEntry | None:
        """One entry by id, or None (also for ids that are not numbers)."""

    async def list_events(self) -> list[str]:
        """Distinct event names, for the Event filter."""

    async def stats(self, now: datetime) -> LogStats:
        """Counts for the stats cards, relative to ``now``."""

    async def list_requests(self, query: RequestQuery) -> Page[FlareRequestEntry]:
        """Newest-first page of tracked requests matching ``query``."""

    async def get_request(self, entry_id: str) -> FlareRequestEntry | None:
        """One tracked request by id, or None."""

    async def overview(self) -> StorageOverview:
        """Backend facts for the storage panel; never raises (reports errors in it)."""

    async def prune(
        self, *, older_than: datetime, max_entries: int, max_requests: int
    ) -> PruneResult:
        """Delete old rows and cap table sizes with indexed deletes."""
