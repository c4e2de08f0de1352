"""PostgreSQL schema for one project (base table name ``T``, default ``flare_logs``).

* ``T`` / ``T_requests``: one row per entry (``timestamptz``, ``jsonb``, bigserial ids).
* ``T_counts``: exact per-hour row counts per series, for the stats cards and
  row counts (no ``count(*)`` over a million rows).
* ``T_meta``: small integers (search indexing progress).
* ``T_batches``: the random key of each recent entry batch, committed with it,
  so a batch whose COMMIT answer was lost is not written again (kept an hour).
* ``T_search`` / ``T_requests_search``: the text to search, with a ``pg_trgm``
  GIN index; filled behind the writer (see postgres_search). Created only when
  the ``pg_trgm`` extension exists or can be created; otherwise search falls
  back to ``ILIKE`` scans.

All DDL runs in one transaction under a database-wide advisory lock, so many
processes starting against an empty database queue up instead of failing on
``CREATE ... IF NOT EXISTS`` races.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from fastapi_flare.storage._sql import LOG_SEARCH_COLUMNS, REQUEST_SEARCH_COLUMNS
from fastapi_flare.storage.extensions import PgNames, StorageExtension, quote_ident
from fastapi_flare.storage.postgres_db import PgTx, advisory_key

DDL_LOCK_KEY = advisory_key("ddl")
BATCHES = "batches"  # suffix of the batch key table


@dataclass(frozen=True, slots=True)
class PgSearchSpec:
    """A content table, its search table and the meta key of indexing progress."""

    table_suffix: str  # "" for the logs table, "requests" for requests
    columns: tuple[str, ...]

    def content(self, names: PgNames) -> str:
        """Quoted content table."""
        return names.table(self.table_suffix)

    @property
    def search_suffix(self) -> str:
        """Suffix of the search table: ``search`` or ``requests_search``."""
        return f"{self.table_suffix}_search" if self.table_suffix else "search"

    def search_raw(self, names: PgNames) -> str:
        """Unquoted search table name."""
        return names.raw(self.search_suffix)

    def search(self, names: PgNames) -> str:
        """Quoted search table."""
        return quote_ident(self.search_raw(names))

    def index(self, names: PgNames) -> str:
        """Quoted name of the search table's trigram index."""
        return names.table(f"{self.search_suffix}_trgm_idx")

    @property
    def meta_key(self) -> str:
        """Meta key holding the highest id already indexed."""
        return f"search_upto:{self.table_suffix or 'logs'}"

    def doc_sql(self, alias: str) -> str:
        """The searched text of a row; unit separators keep columns apart."""
        return "concat_ws(chr(31), " + ", ".join(f"{alias}.{c}" for c in self.columns) + ")"


LOG_SEARCH = PgSearchSpec("", LOG_SEARCH_COLUMNS)
REQUEST_SEARCH = PgSearchSpec("requests", REQUEST_SEARCH_COLUMNS)


def base_ddl(n: PgNames) -> list[str]:
    """Tables and indexes that always exist."""
    logs, requests = n.table(), n.table("requests")
    return [
        f"""CREATE TABLE IF NOT EXISTS {logs} (
            id bigserial PRIMARY KEY,
            ts timestamptz NOT NULL,
            level text NOT NULL,
            event text NOT NULL,
            message text NOT NULL,
            request_id text,
            endpoint text,
            route text,
            http_method text,
            http_status integer,
            ip_address text,
            user_agent text,
            duration_ms bigint,
            error text,
            fingerprint text,
            stack_trace text,
            context jsonb,
            request_body jsonb
        )""",
        # (filter, id): a filtered page is one backward index range scan.
        f"CREATE INDEX IF NOT EXISTS {n.table('level_id_idx')} ON {logs} (level, id)",
        f"CREATE INDEX IF NOT EXISTS {n.table('event_id_idx')} ON {logs} (event, id)",
        f"CREATE INDEX IF NOT EXISTS {n.table('ts_idx')} ON {logs} (ts)",
        # Partial: free on write while the column is unused (NULL).
        f"CREATE INDEX IF NOT EXISTS {n.table('fingerprint_id_idx')} ON {logs} "
        "(fingerprint, id) WHERE fingerprint IS NOT NULL",
        f"CREATE INDEX IF NOT EXISTS {n.table('route_id_idx')} ON {logs} (route, id) "
        "WHERE route IS NOT NULL",
        f"""CREATE TABLE IF NOT EXISTS {requests} (
            id bigserial PRIMARY KEY,
            ts timestamptz NOT NULL,
            method text NOT NULL,
            path text NOT NULL,
            route text,
            status integer NOT NULL,
            duration_ms bigint NOT NULL,
            request_id text,
            ip_address text,
            user_agent text,
            headers jsonb
        )""",
        f"CREATE INDEX IF NOT EXISTS {n.table('requests_method_id_idx')} "
        f"ON {requests} (method, id)",
        f"CREATE INDEX IF NOT EXISTS {n.table('requests_status_class_id_idx')} "
        f"ON {requests} ((status / 100), id)",
        f"""CREATE TABLE IF NOT EXISTS {n.table("meta")} (
            key text PRIMARY KEY,
            value bigint NOT NULL
        )""",
        f"""CREATE TABLE IF NOT EXISTS {n.table(BATCHES)} (
            key uuid PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now()
        )""",
    ]


def counts_ddl(n: PgNames) -> list[str]:
    """The counters table and, because it is new, a recount of existing rows."""
    counts = n.table("counts")
    bucket = "floor(extract(epoch FROM ts) / 3600)::bigint"
    return [
        f"""CREATE TABLE {counts} (
            series text NOT NULL,
            bucket bigint NOT NULL,
            n bigint NOT NULL,
            PRIMARY KEY (series, bucket)
        )""",
        f"INSERT INTO {counts} (series, bucket, n) "
        f"SELECT 'log:' || level, {bucket}, count(*) FROM {n.table()} GROUP BY 1, 2",
        f"INSERT INTO {counts} (series, bucket, n) "
        f"SELECT 'req', {bucket}, count(*) FROM {n.table('requests')} GROUP BY 2",
    ]


def search_ddl(n: PgNames, spec: PgSearchSpec, trgm_schema: str) -> list[str]:
    """Search table with its trigram index, and its progress row."""
    table = spec.search(n)
    index = spec.index(n)
    opclass = f"{quote_ident(trgm_schema)}.gin_trgm_ops"
    return [
        f"CREATE TABLE IF NOT EXISTS {table} (id bigint PRIMARY KEY, doc text NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {index} ON {table} USING gin (doc {opclass})",
        f"INSERT INTO {n.table('meta')} (key, value) VALUES ('{spec.meta_key}', 0) "
        "ON CONFLICT (key) DO NOTHING",
    ]


async def _trgm_schema(tx: PgTx) -> str | None:
    """Schema holding pg_trgm, creating the extension when allowed; None if unavailable."""
    sql = (
        "SELECT s.nspname FROM pg_extension AS e JOIN pg_namespace AS s "
        "ON s.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
    )
    rows = await tx.fetch_all(sql)
    if rows:
        return str(rows[0][0])
    # A savepoint: without the privilege, the rest of the DDL still commits.
    # (Plain statements: the transaction was opened by hand, so asyncpg's own
    # transaction() would try to BEGIN again.)
    await tx.execute("SAVEPOINT flare_trgm")
    try:
        await tx.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except asyncpg.PostgresError:
        await tx.execute("ROLLBACK TO SAVEPOINT flare_trgm")
        return None
    await tx.execute("RELEASE SAVEPOINT flare_trgm")
    rows = await tx.fetch_all(sql)
    return str(rows[0][0]) if rows else None


async def create_schema(
    tx: PgTx, *, search: bool, extensions: tuple[StorageExtension, ...]
) -> bool:
    """Create everything idempotently (caller holds DDL_LOCK_KEY); True if search is indexed."""
    n = tx.names
    for statement in base_ddl(n):
        await tx.execute(statement)
    exists = await tx.fetch_all("SELECT to_regclass($1)", (n.table("counts"),))
    if exists[0][0] is None:
        for statement in counts_ddl(n):
            await tx.execute(statement)
    # Keep using an index another process created, so its rows stay in step.
    present = await tx.fetch_all("SELECT to_regclass($1)", (LOG_SEARCH.search(n),))
    use = search or present[0][0] is not None
    trgm = await _trgm_schema(tx) if use else None
    if trgm is not None:
        for spec in (LOG_SEARCH, REQUEST_SEARCH):
            for statement in search_ddl(n, spec, trgm):
                await tx.execute(statement)
    for extension in extensions:
        for statement in extension.postgres_ddl(n):
            await tx.execute(statement)
    return trgm is not None
