"""PostgreSQL DDL and statements of ``{pg_table_name}_metrics`` and ``..._metrics_flushes``.

Same layout as on SQLite (see ``sqlite_metrics``); histograms are ``bytea``. The DDL
runs inside the backend's locked schema transaction, so processes starting together
do not race on ``CREATE TABLE``.
"""

from __future__ import annotations

from fastapi_flare.metrics.model import ALL_ROUTES, COLUMNS, KEY, READ_COLUMNS
from fastapi_flare.metrics.store import FLUSHES_SUFFIX, TABLE_SUFFIX, MetricsSql
from fastapi_flare.storage.extensions import PgNames, quote_ident


def ddl(names: PgNames) -> tuple[str, ...]:
    """CREATE statements for the metrics tables of ``names``."""
    table = names.table(TABLE_SUFFIX)
    index = quote_ident(names.raw(f"{TABLE_SUFFIX}_route"))
    return (
        f"""CREATE TABLE IF NOT EXISTS {table} (
            resolution integer NOT NULL,
            bucket_start bigint NOT NULL,
            route text NOT NULL,
            method text NOT NULL,
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
            PRIMARY KEY ({", ".join(KEY)})
        )""",
        f"CREATE INDEX IF NOT EXISTS {index} ON {table} (resolution, route, bucket_start)",
        f"""CREATE TABLE IF NOT EXISTS {names.table(FLUSHES_SUFFIX)} (
            writer text PRIMARY KEY,
            seq bigint NOT NULL,
            at bigint NOT NULL
        )""",
    )


def statements(table: str, flushes: str) -> MetricsSql:
    """Statements for the (quoted) tables ``table`` and ``flushes``."""
    values = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c not in KEY)
    read = ", ".join(READ_COLUMNS)
    window = "resolution = $1 AND bucket_start >= $2 AND bucket_start < $3"
    return MetricsSql(
        upsert=(
            f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({values}) "
            f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {updates}"
        ),
        select_bucket=f"SELECT {read} FROM {table} WHERE resolution = $1 AND bucket_start = $2",
        select_totals=f"SELECT {read} FROM {table} WHERE {window} AND route = '{ALL_ROUTES}'",
        select_routes=f"SELECT {read} FROM {table} WHERE {window} AND route <> '{ALL_ROUTES}'",
        delete_totals_before=(
            f"DELETE FROM {table} WHERE resolution = $1 AND route = '{ALL_ROUTES}' "
            "AND bucket_start < $2 RETURNING 1"
        ),
        delete_routes_before=(
            f"DELETE FROM {table} WHERE resolution = $1 AND bucket_start < $2 "
            f"AND route <> '{ALL_ROUTES}' RETURNING 1"
        ),
        select_flush=f"SELECT seq FROM {flushes} WHERE writer = $1",
        upsert_flush=(
            f"INSERT INTO {flushes} (writer, seq, at) VALUES ($1, $2, $3) "
            "ON CONFLICT (writer) DO UPDATE SET seq = EXCLUDED.seq, at = EXCLUDED.at"
        ),
        delete_flushes_before=f"DELETE FROM {flushes} WHERE at < $1 RETURNING 1",
    )
