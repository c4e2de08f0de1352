"""Column lists, row conversion and filter SQL shared by both backends.

Both backends use the same column names and order; they differ only in the
placeholder style, the timestamp representation (SQLite: integer microseconds
since the epoch, PostgreSQL: ``timestamptz``) and the JSON column type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from fastapi_flare.schema import FlareLogEntry, FlareRequestEntry, LogQuery, RequestQuery
from fastapi_flare.storage._common import (
    Direction,
    clean_row,
    clean_text,
    dump_json,
    load_headers,
    load_json,
    plain_text,
)
from fastapi_flare.storage.extensions import Dialect

LOG_COLUMNS: tuple[str, ...] = (
    "ts",
    "level",
    "event",
    "message",
    "request_id",
    "endpoint",
    "route",
    "http_method",
    "http_status",
    "ip_address",
    "user_agent",
    "duration_ms",
    "error",
    "fingerprint",
    # Big columns last: SQLite keeps the small ones on the row's first page.
    "stack_trace",
    "context",
    "request_body",
)
REQUEST_COLUMNS: tuple[str, ...] = (
    "ts",
    "method",
    "path",
    "route",
    "status",
    "duration_ms",
    "request_id",
    "ip_address",
    "user_agent",
    "headers",
)
LOG_SEARCH_COLUMNS: tuple[str, ...] = ("message", "error", "endpoint")
REQUEST_SEARCH_COLUMNS: tuple[str, ...] = ("path",)


def select_list(alias: str, columns: Sequence[str]) -> str:
    """``a.id, a.col1, ...`` for a SELECT."""
    return ", ".join(f"{alias}.{name}" for name in ("id", *columns))


class Params:
    """Collects bind parameters and hands out the dialect's placeholders."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        """Placeholder for ``value``."""
        self.values.append(value)
        return "?" if self.dialect == "sqlite" else f"${len(self.values)}"


def log_row(entry: FlareLogEntry, ts: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """Insert parameters for one log entry, in ``LOG_COLUMNS`` order."""
    row = (
        ts(entry.timestamp),
        entry.level,
        entry.event,
        entry.message,
        entry.request_id,
        entry.endpoint,
        entry.route,
        entry.http_method,
        entry.http_status,
        entry.ip_address,
        entry.user_agent,
        entry.duration_ms,
        entry.error,
        entry.fingerprint,
        entry.stack_trace,
        dump_json(entry.context),
        dump_json(entry.request_body),
    )
    return row if plain_text(row) else clean_row(row)


def request_row(entry: FlareRequestEntry, ts: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """Insert parameters for one tracked request, in ``REQUEST_COLUMNS`` order."""
    row = (
        ts(entry.timestamp),
        entry.method.upper(),
        entry.path,
        entry.route,
        entry.status,
        entry.duration_ms,
        entry.request_id,
        entry.ip_address,
        entry.user_agent,
        dump_json(entry.headers),
    )
    return row if plain_text(row) else clean_row(row)


def to_log(row: Sequence[Any], ts: Callable[[Any], datetime]) -> FlareLogEntry:
    """Model from a ``select_list(..., LOG_COLUMNS)`` row."""
    return FlareLogEntry.model_construct(
        id=str(row[0]),
        timestamp=ts(row[1]),
        level=row[2],
        event=row[3],
        message=row[4],
        request_id=row[5],
        endpoint=row[6],
        route=row[7],
        http_method=row[8],
        http_status=row[9],
        ip_address=row[10],
        user_agent=row[11],
        duration_ms=row[12],
        error=row[13],
        fingerprint=row[14],
        stack_trace=row[15],
        context=load_json(row[16]),
        request_body=load_json(row[17]),
    )


def to_request(row: Sequence[Any], ts: Callable[[Any], datetime]) -> FlareRequestEntry:
    """Model from a ``select_list(..., REQUEST_COLUMNS)`` row."""
    return FlareRequestEntry.model_construct(
        id=str(row[0]),
        timestamp=ts(row[1]),
        method=row[2],
        path=row[3],
        route=row[4],
        status=row[5],
        duration_ms=row[6],
        request_id=row[7],
        ip_address=row[8],
        user_agent=row[9],
        headers=load_headers(row[10]),
    )


def log_filters(query: LogQuery, p: Params, ts: Callable[[datetime], Any], alias: str) -> list[str]:
    """WHERE conditions for every LogQuery filter except search and cursors."""
    conds: list[str] = []
    if query.level is not None:
        conds.append(f"{alias}.level = {p(query.level)}")
    if query.event:
        conds.append(f"{alias}.event = {p(clean_text(query.event))}")
    if query.since is not None:
        conds.append(f"{alias}.ts >= {p(ts(query.since))}")
    if query.until is not None:
        conds.append(f"{alias}.ts <= {p(ts(query.until))}")
    if query.fingerprint:
        conds.append(f"{alias}.fingerprint = {p(clean_text(query.fingerprint))}")
    if query.route:
        conds.append(f"{alias}.route = {p(clean_text(query.route))}")
    return conds


def request_filters(query: RequestQuery, p: Params, alias: str) -> list[str]:
    """WHERE conditions for RequestQuery's method and status class."""
    conds: list[str] = []
    if query.method:
        conds.append(f"{alias}.method = {p(clean_text(query.method).upper())}")
    if query.status_class is not None:
        # Same expression as the status-class index, so the index is used.
        conds.append(f"({alias}.status / 100) = {p(int(query.status_class))}")
    return conds


def id_bounds(p: Params, column: str, before_id: int | None, after_id: int | None) -> list[str]:
    """Keyset cursor conditions."""
    conds: list[str] = []
    if before_id is not None:
        conds.append(f"{column} < {p(before_id)}")
    if after_id is not None:
        conds.append(f"{column} > {p(after_id)}")
    return conds


def where(conds: Sequence[str]) -> str:
    """`` WHERE a AND b`` or an empty string."""
    return " WHERE " + " AND ".join(conds) if conds else ""


def order(column: str, direction: Direction) -> str:
    """ORDER BY clause for a keyset page."""
    return f" ORDER BY {column} {'ASC' if direction == 'asc' else 'DESC'}"
