"""Data models shared by capture, storage and the dashboard."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

Level = Literal["ERROR", "WARNING"]
LEVELS: tuple[Level, ...] = ("ERROR", "WARNING")
IssueStatus = Literal["open", "resolved", "ignored"]

T = TypeVar("T")


class FlareLogEntry(BaseModel):
    """One captured error or warning.

    ``id`` is the backend-native row id once stored (``None`` before). Fields past
    ``request_body`` extend the spec's schema for the dashboard and grouping.
    """

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    timestamp: datetime
    level: Level
    event: str
    message: str
    request_id: str | None = None
    endpoint: str | None = None
    http_method: str | None = None
    http_status: int | None = None
    ip_address: str | None = None
    duration_ms: int | None = None
    error: str | None = None
    stack_trace: str | None = None
    context: dict[str, Any] | None = None
    request_body: dict[str, Any] | None = None
    route: str | None = None
    user_agent: str | None = None
    fingerprint: str | None = None


class FlareRequestEntry(BaseModel):
    """One tracked HTTP request (the dashboard's HTTP Requests tab)."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    timestamp: datetime
    method: str
    path: str
    route: str | None = None
    status: int
    duration_ms: int
    request_id: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Filters and keyset cursor for the Errors table (newest first).

    ``before_id`` pages to older rows, ``after_id`` to newer ones; both are
    row ids, so pages stay stable while new entries arrive.
    """

    level: Level | None = None
    event: str | None = None
    search: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    fingerprint: str | None = None
    route: str | None = None
    before_id: int | None = None
    after_id: int | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class RequestQuery:
    """Filters and keyset cursor for the HTTP Requests table (newest first)."""

    method: str | None = None
    status_class: int | None = None  # 2, 3, 4 or 5
    search: str | None = None  # substring of the path
    before_id: int | None = None
    after_id: int | None = None
    limit: int = 50


@dataclass(slots=True)
class Page(Generic[T]):
    """One page of rows plus the cursors to its neighbours (None at the ends)."""

    items: list[T]
    older_cursor: int | None = None
    newer_cursor: int | None = None


@dataclass(frozen=True, slots=True)
class LogStats:
    """The Errors view's stats cards."""

    errors_24h: int
    warnings_24h: int
    total: int
    latest_error_at: datetime | None


@dataclass(slots=True)
class StorageOverview:
    """What the storage panel shows; ``details`` holds backend-specific facts."""

    backend: str
    connected: bool
    error: str | None = None
    location: str = ""
    log_count: int | None = None
    request_count: int | None = None
    oldest_entry_at: datetime | None = None
    newest_entry_at: datetime | None = None
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PruneResult:
    """Rows removed by one retention pass."""

    logs: int = 0
    requests: int = 0
    metrics: int = 0


class FlareError(Exception):
    """Base class for fastapi-flare's own errors."""


class StorageError(FlareError):
    """A storage backend failed (unreachable, locked, full, ...)."""
