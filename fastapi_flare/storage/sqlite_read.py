"""SQLite reads behind the dashboard's cards and panels: events, stats, overview."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timedelta

from fastapi_flare.schema import LogStats, StorageError, StorageOverview
from fastapi_flare.storage import sqlite_search as search
from fastapi_flare.storage._common import (
    HOUR_MICROS,
    REQUEST_SERIES,
    from_micros,
    log_series,
    pending_text,
    short_error,
    to_micros,
    utc,
)
from fastapi_flare.storage.sqlite_db import SqliteDatabase, resolved_path
from fastapi_flare.storage.sqlite_schema import COUNTS, LOG_SEARCH, LOGS, REQUEST_SEARCH


def human_size(size: int) -> str:
    """``12.3 MB`` style size."""
    value = float(size)
    for unit in ("B", "kB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


async def list_events(db: SqliteDatabase) -> list[str]:
    """Distinct event names, sorted: a skip-scan of the event index, cheap at 1M rows."""
    rows = await db.fetch_all(
        f"""WITH RECURSIVE e(name) AS (
            SELECT min(event) FROM {LOGS}
            UNION ALL
            SELECT (SELECT min(event) FROM {LOGS} WHERE event > e.name)
            FROM e WHERE e.name IS NOT NULL
        ) SELECT name FROM e WHERE name IS NOT NULL LIMIT 1000"""
    )
    return [str(row[0]) for row in rows]


async def stats(db: SqliteDatabase, now: datetime) -> LogStats:
    """Stats cards, exact: full hours from the counters, the first partial hour row by row.

    The latest error is searched from the start of the newest hour holding an
    error, so it is the true maximum timestamp yet reads only that last stretch.
    ``+level`` keeps SQLite on the ts index: through the level index it would
    visit every error ever stored (seconds at a million rows).
    """
    start = to_micros(utc(now) - timedelta(hours=24))
    first_hour = start // HOUR_MICROS
    edge_end = (first_hour + 1) * HOUR_MICROS
    rows = await db.fetch_all(
        f"""SELECT
            (SELECT coalesce(sum(n), 0) FROM {COUNTS} WHERE series = ?1 AND bucket > ?3),
            (SELECT coalesce(sum(n), 0) FROM {COUNTS} WHERE series = ?2 AND bucket > ?3),
            (SELECT coalesce(sum(n), 0) FROM {COUNTS} WHERE series IN (?1, ?2)),
            (SELECT coalesce(sum(level = 'ERROR'), 0) FROM {LOGS} WHERE ts >= ?4 AND ts < ?5),
            (SELECT coalesce(sum(level = 'WARNING'), 0) FROM {LOGS} WHERE ts >= ?4 AND ts < ?5),
            (SELECT ts FROM {LOGS} WHERE +level = 'ERROR' AND ts >= (
                SELECT max(bucket) FROM {COUNTS} WHERE series = ?1) * {HOUR_MICROS}
                ORDER BY ts DESC LIMIT 1)""",
        (log_series("ERROR"), log_series("WARNING"), first_hour, start, edge_end),
    )
    c_err, c_warn, total, e_err, e_warn, latest = rows[0]
    return LogStats(
        errors_24h=int(c_err) + int(e_err),
        warnings_24h=int(c_warn) + int(e_warn),
        total=int(total),
        latest_error_at=from_micros(latest) if latest is not None else None,
    )


async def overview(db: SqliteDatabase, backend: str, searchable: bool) -> StorageOverview:
    """File sizes (db + wal), counts, oldest/newest, versions; never raises."""
    location = resolved_path(db.path)
    details = {"sqlite_version": sqlite3.sqlite_version, **file_sizes(location)}
    info = StorageOverview(backend=backend, connected=False, location=location, details=details)
    if not db.is_open:
        info.error = "storage is not open"
        return info
    try:
        rows = await db.fetch_all(
            f"""SELECT
                (SELECT coalesce(sum(n), 0) FROM {COUNTS} WHERE series LIKE 'log:%'),
                (SELECT coalesce(sum(n), 0) FROM {COUNTS} WHERE series = ?),
                (SELECT min(ts) FROM {LOGS}), (SELECT max(ts) FROM {LOGS})""",
            (REQUEST_SERIES,),
        )
        logs, requests, oldest, newest = rows[0]
        details["journal_mode"] = str(await db.fetch_value("PRAGMA journal_mode"))
        details["busy_timeout_ms"] = str(db.busy_timeout_ms)
        details["row_counts"] = "exact (counters kept at write time)"
        details["search_index"] = await search_status(db, searchable)
    except StorageError as exc:
        info.error = short_error(exc)
        return info
    info.connected = True
    if db.last_write_error:  # reads work, but the last write did not
        info.error = f"Writes failing: {db.last_write_error}"
    info.log_count, info.request_count = int(logs), int(requests)
    info.oldest_entry_at = from_micros(oldest) if oldest is not None else None
    info.newest_entry_at = from_micros(newest) if newest is not None else None
    return info


async def search_status(db: SqliteDatabase, searchable: bool) -> str:
    """How search works right now, for the storage panel."""
    if not searchable:
        return "none (LIKE scan)"
    pending = await search.pending_rows(db, LOG_SEARCH)
    pending += await search.pending_rows(db, REQUEST_SEARCH)
    return f"FTS5 trigram, {pending_text(pending)}"


def file_sizes(location: str) -> dict[str, str]:
    """Sizes of the database file and its WAL, and their sum."""
    sizes: dict[str, str] = {}
    total = 0
    for suffix, key in (("", "db_size"), ("-wal", "wal_size")):
        try:
            size = os.stat(location + suffix).st_size
        except OSError:
            size = 0
        total += size
        sizes[key] = human_size(size)
    sizes["file_size"] = human_size(total)
    sizes["file_size_bytes"] = str(total)
    return sizes
