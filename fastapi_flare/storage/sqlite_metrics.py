"""SQLite DDL and statements of the metrics tables ``flare_metrics`` and ``flare_metrics_flushes``.

A rowid table: rows carry a histogram of a few hundred bytes, too large for WITHOUT
ROWID to pay off. The unique key starts with (resolution, bucket_start), so the
per-route table of a time range is one index range; (resolution, route, bucket_start)
serves the charts, which read only the all-routes rows (route ``*``).
"""

from __future__ import annotations

from fastapi_flare.metrics.model import ALL_ROUTES, COLUMNS, KEY, READ_COLUMNS
from fastapi_flare.metrics.store import MetricsSql

TABLE = "flare_metrics"
FLUSHES = "flare_metrics_flushes"
ROUTE_INDEX = f"{TABLE}_route"

DDL: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        resolution INTEGER NOT NULL,
        bucket_start INTEGER NOT NULL,
        route TEXT NOT NULL,
        method TEXT NOT NULL,
        requests INTEGER NOT NULL,
        status_2xx INTEGER NOT NULL,
        status_3xx INTEGER NOT NULL,
        status_4xx INTEGER NOT NULL,
        status_5xx INTEGER NOT NULL,
        duration_sum REAL NOT NULL,
        duration_min REAL NOT NULL,
        duration_max REAL NOT NULL,
        hist_offset INTEGER NOT NULL,
        histogram BLOB NOT NULL
    )""",
    f"CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_key ON {TABLE}({', '.join(KEY)})",
    f"CREATE INDEX IF NOT EXISTS {ROUTE_INDEX} ON {TABLE}(resolution, route, bucket_start)",
    f"""CREATE TABLE IF NOT EXISTS {FLUSHES} (
        writer TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL
    )""",
)


def statements(table: str, flushes: str) -> MetricsSql:
    """Statements for the (quoted) tables ``table`` and ``flushes``."""
    values = ", ".join("?" for _ in COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in KEY)
    read = ", ".join(READ_COLUMNS)
    window = "resolution = ? AND bucket_start >= ? AND bucket_start < ?"
    return MetricsSql(
        upsert=(
            f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({values}) "
            f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {updates}"
        ),
        select_bucket=f"SELECT {read} FROM {table} WHERE resolution = ? AND bucket_start = ?",
        # Without ANALYZE statistics SQLite would scan the unique key for these.
        select_totals=(
            f"SELECT {read} FROM {table} INDEXED BY {ROUTE_INDEX} "
            f"WHERE {window} AND route = '{ALL_ROUTES}'"
        ),
        select_routes=f"SELECT {read} FROM {table} WHERE {window} AND route <> '{ALL_ROUTES}'",
        # RETURNING: one row per deleted row, counted by the caller (SQLite 3.35+).
        delete_totals_before=(
            f"DELETE FROM {table} INDEXED BY {ROUTE_INDEX} WHERE resolution = ? "
            f"AND route = '{ALL_ROUTES}' AND bucket_start < ? RETURNING 1"
        ),
        delete_routes_before=(
            f"DELETE FROM {table} WHERE resolution = ? AND bucket_start < ? "
            f"AND route <> '{ALL_ROUTES}' RETURNING 1"
        ),
        select_flush=f"SELECT seq FROM {flushes} WHERE writer = ?",
        upsert_flush=(
            f"INSERT INTO {flushes} (writer, seq, at) VALUES (?, ?, ?) "
            "ON CONFLICT (writer) DO UPDATE SET seq = excluded.seq, at = excluded.at"
        ),
        delete_flushes_before=f"DELETE FROM {flushes} WHERE at < ? RETURNING 1",
    )
