"""Builders for log entries and tracked requests used by the storage tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi_flare.schema import FlareLogEntry, FlareRequestEntry, Level, LogQuery, Page

NOW = datetime.now(UTC).replace(microsecond=123456)


def log(
    message: str = "boom",
    *,
    level: Level = "ERROR",
    event: str = "unhandled_exception",
    at: datetime | None = None,
    **fields: Any,
) -> FlareLogEntry:
    """A log entry with sensible defaults; any field can be overridden."""
    return FlareLogEntry(timestamp=at or NOW, level=level, event=event, message=message, **fields)


def request(
    path: str = "/items/1",
    *,
    method: str = "GET",
    status: int = 404,
    at: datetime | None = None,
    **fields: Any,
) -> FlareRequestEntry:
    """A tracked request with sensible defaults."""
    return FlareRequestEntry(
        timestamp=at or NOW,
        method=method,
        path=path,
        status=status,
        duration_ms=fields.pop("duration_ms", 3),
        **fields,
    )


def numbered(count: int, start: int = 0, **fields: Any) -> list[FlareLogEntry]:
    """``count`` entries whose messages are ``entry 0000`` ..., one second apart."""
    return [
        log(f"entry {i:04d}", at=NOW - timedelta(seconds=count - i), **fields)
        for i in range(start, start + count)
    ]


def messages(page: Page[FlareLogEntry]) -> list[str]:
    """The messages of a page, in page order."""
    return [item.message for item in page.items]


async def all_messages(storage: Any, **filters: Any) -> list[str]:
    """Every message matching ``filters`` (one big page), newest first."""
    page = await storage.list_logs(LogQuery(limit=500, **filters))
    assert page.older_cursor is None, "test data must fit one page"
    return messages(page)


async def ids_of(storage: Any, **filters: Any) -> list[int]:
    """Row ids matching ``filters``, newest first."""
    page = await storage.list_logs(LogQuery(limit=500, **filters))
    return [int(item.id) for item in page.items]
