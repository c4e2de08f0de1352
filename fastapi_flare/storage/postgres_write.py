"""PostgreSQL write paths: COPY batches with exact counters, and chunked retention."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi_flare.schema import LEVELS, FlareLogEntry, FlareRequestEntry
from fastapi_flare.storage._common import (
    REQUEST_SERIES,
    count_buckets,
    hour_bucket,
    log_series,
    utc,
)
from fastapi_flare.storage._sql import LOG_COLUMNS, REQUEST_COLUMNS, log_row, request_row
from fastapi_flare.storage.extensions import SavedLog, StorageExtension, quote_ident
from fastapi_flare.storage.postgres_db import PgDatabase, PgTx
from fastapi_flare.storage.postgres_schema import BATCHES

KNOWN_SERIES = frozenset({REQUEST_SERIES, *(log_series(level) for level in LEVELS)})
# Rows deleted per retention transaction (each holds the table's write lock).
PRUNE_CHUNK = 2000
# How long a batch key stays checkable: far longer than the writer's retry pauses.
BATCH_KEY_TTL = timedelta(hours=1)


async def add_counts(tx: PgTx, rows: Sequence[tuple[str, int, int]]) -> None:
    """Add (or, with negative n, subtract) per-hour counts; drop rows that reach 0.

    Values are integers and series names from a fixed set, so the statement is
    written with literals and sent along with the COMMIT (no extra round trip).
    """
    if not rows:
        return
    counts = tx.names.table("counts")
    upsert = f"ON CONFLICT (series, bucket) DO UPDATE SET n = {counts}.n + EXCLUDED.n"
    if all(series in KNOWN_SERIES for series, _, _ in rows):
        values = ", ".join(f"('{series}', {int(bucket)}, {int(n)})" for series, bucket, n in rows)
        tx.defer(f"INSERT INTO {counts} (series, bucket, n) VALUES {values} {upsert}")
    else:  # a level written by hand: bind it as a parameter
        series, buckets, ns = zip(*rows, strict=True)
        await tx.execute(
            f"INSERT INTO {counts} (series, bucket, n) "
            f"SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) {upsert}",
            (list(series), list(buckets), list(ns)),
        )
    if any(n < 0 for _, _, n in rows):
        tx.defer(f"DELETE FROM {counts} WHERE n <= 0")


async def insert_logs(
    tx: PgTx, entries: Sequence[FlareLogEntry], extensions: Sequence[StorageExtension]
) -> None:
    """COPY a batch, bump the counters and run extension hooks, all in ``tx``."""
    rows = [log_row(entry, utc) for entry in entries]
    await tx.copy(tx.names.raw(), LOG_COLUMNS, rows)
    await add_counts(tx, count_buckets((log_series(r[1]), hour_bucket(r[0])) for r in rows))
    hooks = [ext.on_logs_saved for ext in extensions if ext.on_logs_saved is not None]
    if hooks:
        # The table's write lock is held, so the batch took a contiguous run of
        # sequence values ending at currval().
        last = await tx.fetch_all(
            "SELECT currval(pg_get_serial_sequence($1, 'id'))", (tx.names.table(),)
        )
        first_id = int(last[0][0]) - len(rows) + 1
        saved = [SavedLog(first_id + i, entry) for i, entry in enumerate(entries)]
        for hook in hooks:
            await hook(tx, saved)


async def insert_requests(tx: PgTx, entries: Sequence[FlareRequestEntry]) -> None:
    """COPY a batch of tracked requests and bump the request counter."""
    rows = [request_row(entry, utc) for entry in entries]
    await tx.copy(tx.names.raw("requests"), REQUEST_COLUMNS, rows)
    await add_counts(tx, count_buckets((REQUEST_SERIES, hour_bucket(r[0])) for r in rows))


def record_batch(tx: PgTx, key: UUID) -> None:
    """Commit ``key`` with the batch, in the COMMIT's round trip.

    Deferred statements carry no parameters; only the canonical text of a
    parsed UUID (hex digits and dashes) reaches the SQL, a literal as safe as
    add_counts' integers. Binding it would cost a round trip per batch.
    """
    tx.defer(f"INSERT INTO {tx.names.table(BATCHES)} (key) VALUES ('{UUID(str(key))}')")


async def batch_saved(tx: PgTx, key: UUID) -> bool:
    """Whether the batch with ``key`` committed.

    ``tx`` holds the table's write lock, so a commit still running on a
    connection the client gave up on has finished (and is visible) by now.
    """
    sql = f"SELECT 1 FROM {tx.names.table(BATCHES)} WHERE key = $1"
    return bool(await tx.fetch_all(sql, (key,)))


async def prune_batches(db: PgDatabase, keep: Sequence[UUID]) -> None:
    """Forget batch keys older than BATCH_KEY_TTL, except ``keep`` (still being retried)."""
    async with db.connection() as conn:
        await conn.execute(
            f"DELETE FROM {db.names.table(BATCHES)} "
            "WHERE at < now() - $1::interval AND key <> ALL($2::uuid[])",
            BATCH_KEY_TTL,
            list(keep),
        )


async def _delete_chunks(
    db: PgDatabase, suffix: str, condition: str, arg: Any, search: bool
) -> int:
    """Delete matching rows (and their search rows) PRUNE_CHUNK per transaction."""
    table = db.names.table(suffix)
    kind = "level" if not suffix else "'req'"
    search_table = db.names.table(f"{suffix}_search" if suffix else "search")
    also = f", s AS (DELETE FROM {search_table} WHERE id IN (SELECT id FROM d))" if search else ""
    # "id <= $1" walks the primary key from the oldest; "ts < $1" uses the ts index.
    ordering = " ORDER BY id" if condition.startswith("id") else ""
    sql = (
        f"WITH d AS (DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "
        f"WHERE {condition}{ordering} LIMIT {PRUNE_CHUNK}) RETURNING id, ts, {kind} AS kind)"
        f"{also} SELECT ts, kind FROM d"
    )
    total = 0
    while True:
        async with db.write(db.write_key, db.index_key) as tx:
            deleted = await tx.fetch_all(sql, (arg,))
            series = (
                (log_series(kind) if not suffix else REQUEST_SERIES, hour_bucket(ts))
                for ts, kind in deleted
            )
            await add_counts(tx, [(s, b, -n) for s, b, n in count_buckets(series)])
        total += len(deleted)
        if len(deleted) < PRUNE_CHUNK:
            return total
        await asyncio.sleep(0)  # let a waiting save_logs in between chunks


async def _cap_rows(db: PgDatabase, suffix: str, keep: int, search: bool) -> int:
    """Delete all but the ``keep`` newest rows (by id).

    As on SQLite: the exact counters give the row count, so only the excess is walked,
    and count and walk share one statement's snapshot.
    """
    # Every level's series, as the storage overview counts them (odd levels too).
    series = REQUEST_SERIES if suffix else log_series("%")
    rows = await db.fetch_all(
        f"WITH total(n) AS (SELECT coalesce(sum(n), 0)::bigint FROM {db.names.table('counts')} "
        "WHERE series LIKE $1) "
        f"SELECT id, (SELECT n FROM total) FROM {db.names.table(suffix)} ORDER BY id "
        "OFFSET greatest((SELECT n FROM total) - $2, 1) - 1 LIMIT 1",
        (series, max(keep, 0)),
    )
    if not rows or int(rows[0][1]) <= keep:
        return 0
    return await _delete_chunks(db, suffix, "id <= $1", int(rows[0][0]), search)


async def prune_logs(db: PgDatabase, older_than: datetime, max_entries: int, search: bool) -> int:
    """Retention for log entries: by age (ts index), then by count (id order)."""
    removed = await _delete_chunks(db, "", "ts < $1", utc(older_than), search)
    return removed + await _cap_rows(db, "", max_entries, search)


async def prune_requests(db: PgDatabase, max_requests: int, search: bool) -> int:
    """Keep the ``max_requests`` newest tracked requests (a ring buffer)."""
    return await _cap_rows(db, "requests", max_requests, search)


# Our tables are re-analysed when this share of their rows changed since the
# last ANALYZE (autovacuum uses 10%, so with autovacuum on this rarely fires).
STALE_SHARE = 0.2
MIN_CHANGED_ROWS = 1000


async def refresh_statistics(db: PgDatabase, suffixes: Sequence[str]) -> list[str]:
    """ANALYZE those of our tables whose planner statistics are missing or stale.

    Servers without autovacuum (common in tests and some managed setups) never
    analyse a new table; the planner then guesses row counts and can pick plans
    that take seconds at a million rows. Returns the tables analysed.
    """
    names = [db.names.raw(suffix) for suffix in suffixes]
    rows = await db.fetch_all(
        "SELECT relname, n_live_tup, n_mod_since_analyze, "
        "coalesce(last_analyze, last_autoanalyze) IS NULL "
        "FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = ANY($1)",
        (names,),
    )
    analysed = []
    for name, live, changed, never in rows:
        # A never-analysed table is analysed whatever its counters say: they
        # reach pg_stat_user_tables up to a second late (and it is cheap).
        if never or changed >= max(MIN_CHANGED_ROWS, STALE_SHARE * live):
            async with db.connection() as conn:
                await conn.execute(f"ANALYZE {quote_ident(name)}")
            analysed.append(str(name))
    return analysed
