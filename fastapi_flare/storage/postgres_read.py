"""PostgreSQL reads behind the dashboard's cards and panels: events, stats, overview."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi_flare.schema import LogStats, StorageError, StorageOverview
from fastapi_flare.storage import postgres_search as search
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
from fastapi_flare.storage.postgres_db import PgDatabase
from fastapi_flare.storage.postgres_schema import LOG_SEARCH, REQUEST_SEARCH


async def list_events(db: PgDatabase) -> list[str]:
    """Distinct event names, sorted: a loose index scan, cheap at 1M rows."""
    logs = db.names.table()
    rows = await db.fetch_all(
        f"""WITH RECURSIVE e(name) AS (
            SELECT min(event) FROM {logs}
            UNION ALL
            SELECT (SELECT min(event) FROM {logs} WHERE event > e.name)
            FROM e WHERE e.name IS NOT NULL
        ) SELECT name FROM e WHERE name IS NOT NULL LIMIT 1000"""
    )
    return [str(row[0]) for row in rows]


async def stats(db: PgDatabase, now: datetime) -> LogStats:
    """Stats cards, exact: full hours from the counters, the first partial hour row by row.

    The latest error is searched from the start of the newest hour holding an
    error, so it is the true maximum timestamp yet reads only that last stretch.
    ``level || ''`` keeps the planner on the ts index: through the level index
    it would visit every error ever stored.
    """
    start = utc(now) - timedelta(hours=24)
    first_hour = to_micros(start) // HOUR_MICROS
    edge_end = from_micros((first_hour + 1) * HOUR_MICROS)
    logs, counts = db.names.table(), db.names.table("counts")
    rows = await db.fetch_all(
        f"""SELECT
            (SELECT coalesce(sum(n), 0) FROM {counts} WHERE series = $1 AND bucket > $3),
            (SELECT coalesce(sum(n), 0) FROM {counts} WHERE series = $2 AND bucket > $3),
            (SELECT coalesce(sum(n), 0) FROM {counts} WHERE series IN ($1, $2)),
            (SELECT count(*) FILTER (WHERE level = 'ERROR') FROM {logs}
                WHERE ts >= $4 AND ts < $5),
            (SELECT count(*) FILTER (WHERE level = 'WARNING') FROM {logs}
                WHERE ts >= $4 AND ts < $5),
            (SELECT ts FROM {logs} WHERE (level || '') = 'ERROR' AND ts >= to_timestamp(
                (SELECT max(bucket) FROM {counts} WHERE series = $1) * 3600)
                ORDER BY ts DESC LIMIT 1)""",
        (log_series("ERROR"), log_series("WARNING"), first_hour, start, edge_end),
    )
    c_err, c_warn, total, e_err, e_warn, latest = rows[0]
    return LogStats(
        errors_24h=int(c_err) + int(e_err),
        warnings_24h=int(c_warn) + int(e_warn),
        total=int(total),
        latest_error_at=utc(latest) if latest is not None else None,
    )


async def overview(
    db: PgDatabase, backend: str, location: str, searchable: bool
) -> StorageOverview:
    """Server version, pool stats, table sizes, counts, oldest/newest; never raises."""
    info = StorageOverview(backend=backend, connected=False, location=location)
    info.details.update(db.pool_stats())
    if db.pool is None:
        info.error = "storage is not open"
        return info
    logs, counts = db.names.table(), db.names.table("counts")
    try:
        rows = await db.fetch_all(
            f"""SELECT current_setting('server_version'),
                (SELECT coalesce(sum(n), 0) FROM {counts} WHERE series LIKE 'log:%'),
                (SELECT coalesce(sum(n), 0) FROM {counts} WHERE series = $1),
                (SELECT min(ts) FROM {logs}), (SELECT max(ts) FROM {logs}),
                pg_size_pretty(pg_total_relation_size(to_regclass($2))),
                pg_size_pretty(pg_total_relation_size(to_regclass($3)))""",
            (REQUEST_SERIES, logs, db.names.table("requests")),
        )
        version, n_logs, n_requests, oldest, newest, logs_size, requests_size = rows[0]
        status = "none (ILIKE scan)"
        if searchable:
            pending = await search.pending_rows(db, LOG_SEARCH)
            pending += await search.pending_rows(db, REQUEST_SEARCH)
            status = f"pg_trgm, {pending_text(pending)}"
    except StorageError as exc:
        info.error = short_error(exc)
        return info
    info.connected = True
    if db.last_write_error:  # reads work, but the last write did not
        info.error = f"Writes failing: {db.last_write_error}"
    info.log_count, info.request_count = int(n_logs), int(n_requests)
    info.oldest_entry_at = utc(oldest) if oldest is not None else None
    info.newest_entry_at = utc(newest) if newest is not None else None
    info.details.update(
        {
            "server_version": str(version),
            "table": db.names.base,
            "requests_table": db.names.raw("requests"),
            "logs_table_size": str(logs_size),
            "requests_table_size": str(requests_size),
            "row_counts": "exact (counters kept at write time)",
            "search_index": status,
        }
    )
    return info
