"""SQLite DDL and statements of the metrics rollup table ``flare_metrics``.

The primary key starts with (resolution, bucket_start): the per-route table of a time
range is one range scan. The (resolution, route, bucket_start) index serves the charts,
which read only the all-routes rows (route ``*``).
"""

from __future__ import annotations

from fastapi_flare.metrics.model import ALL_ROUTES, COLUMNS, READ_COLUMNS
from fastapi_flare.metrics.store import MetricsSql

TABLE = "flare_metrics"
ROUTE_INDEX = f"{TABLE}_route"
KEY = ("resolution", "bucket_start", "route", "method", "writer")

DDL: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        resolution INTEGER NOT NULL,
        bucket_start INTEGER NOT NULL,
        route TEXT NOT NULL,
        method TEXT NOT NULL,
        writer TEXT NOT NULL,
        requests INTEGER NOT NULL,
        status_2xx INTEGER NOT NULL,
        status_3xx INTEGER NOT NULL,
        status_4xx INTEGER NOT NULL,
        status_5xx INTEGER NOT NULL,
        duration_sum REAL NOT NULL,
        duration_min REAL NOT NULL,
        duration_max REAL NOT NULL,
        hist_offset INTEGER NOT NULL,
        histogram BLOB NOT NULL,
        PRIMARY KEY (resolution, bucket_start, route, method, writer)
    ) WITHOUT ROWID""",
    f"CREATE INDEX IF NOT EXISTS {ROUTE_INDEX} ON {TABLE}(resolution, route, bucket_start)",
)


def statements(table: str) -> MetricsSql:
    """Statements for the (quoted) metrics table ``table``."""
    values = ", ".join("?" for _ in COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in KEY)
    read = ", ".join(READ_COLUMNS)
    window = "resolution = ? AND bucket_start >= ? AND bucket_start < ?"
    return MetricsSql(
        upsert=(
            f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({values}) "
            f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {updates}"
        ),
        # Without ANALYZE statistics SQLite would scan the primary key for these.
        select_totals=(
            f"SELECT {read} FROM {table} INDEXED BY {ROUTE_INDEX} "
            f"WHERE {window} AND route = '{ALL_ROUTES}'"
        ),
        select_routes=f"SELECT {read} FROM {table} WHERE {window} AND route <> '{ALL_ROUTES}'",
        # RETURNING: one row per deleted row, counted by the caller (SQLite 3.35+).
        delete_before=f"DELETE FROM {table} WHERE resolution = ? AND bucket_start < ? RETURNING 1",
    )
