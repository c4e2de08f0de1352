"""PostgreSQL DDL and statements of the metrics rollup table ``{pg_table_name}_metrics``.

Same layout as on SQLite (see ``sqlite_metrics``); histograms are ``bytea``. The DDL
runs inside the backend's locked schema transaction, so processes starting together
do not race on ``CREATE TABLE``.
"""

from __future__ import annotations

from fastapi_flare.metrics.model import ALL_ROUTES, COLUMNS, READ_COLUMNS
from fastapi_flare.metrics.store import MetricsSql
from fastapi_flare.storage.extensions import PgNames, quote_ident

SUFFIX = "metrics"
KEY = ("resolution", "bucket_start", "route", "method", "writer")


def ddl(names: PgNames) -> tuple[str, ...]:
    """CREATE statements for the table of ``names``."""
    table = names.table(SUFFIX)
    index = quote_ident(names.raw(f"{SUFFIX}_route"))
    return (
        f"""CREATE TABLE IF NOT EXISTS {table} (
            resolution integer NOT NULL,
            bucket_start bigint NOT NULL,
            route text NOT NULL,
            method text NOT NULL,
            writer text NOT NULL,
            requests bigint NOT NULL,
            status_2xx bigint NOT NULL,
            status_3xx bigint NOT NULL,
            status_4xx bigint NOT NULL,
            status_5xx bigint NOT NULL,
            duration_sum double precision NOT NULL,
            duration_min double precision NOT NULL,
            duration_max double precision NOT NULL,
            hist_offset smallint NOT NULL,
            histogram bytea NOT NULL,
            PRIMARY KEY (resolution, bucket_start, route, method, writer)
        )""",
        f"CREATE INDEX IF NOT EXISTS {index} ON {table} (resolution, route, bucket_start)",
    )


def statements(table: str) -> MetricsSql:
    """Statements for the (quoted) metrics table ``table``."""
    values = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c not in KEY)
    read = ", ".join(READ_COLUMNS)
    window = "resolution = $1 AND bucket_start >= $2 AND bucket_start < $3"
    return MetricsSql(
        upsert=(
            f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({values}) "
            f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {updates}"
        ),
        select_totals=f"SELECT {read} FROM {table} WHERE {window} AND route = '{ALL_ROUTES}'",
        select_routes=f"SELECT {read} FROM {table} WHERE {window} AND route <> '{ALL_ROUTES}'",
        delete_before=(
            f"DELETE FROM {table} WHERE resolution = $1 AND bucket_start < $2 RETURNING 1"
        ),
    )
