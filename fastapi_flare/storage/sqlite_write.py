"""SQLite write paths: batch inserts with exact counters, and chunked retention."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fastapi_flare.schema import FlareLogEntry, FlareRequestEntry
from fastapi_flare.storage._common import (
    HOUR_MICROS,
    REQUEST_SERIES,
    count_buckets,
    log_series,
    to_micros,
)
from fastapi_flare.storage._sql import LOG_COLUMNS, REQUEST_COLUMNS, log_row, request_row
from fastapi_flare.storage.extensions import SavedLog, StorageExtension
from fastapi_flare.storage.sqlite_db import SqliteDatabase, SqliteTx
from fastapi_flare.storage.sqlite_schema import COUNTS, LOGS, REQUESTS

# Rows deleted per retention transaction: small enough that the writer (and
# FTS5 bookkeeping for indexed rows) never waits long behind a prune.
PRUNE_CHUNK = 1000

INSERT_LOG = (
    f"INSERT INTO {LOGS}({', '.join(LOG_COLUMNS)}) VALUES ({', '.join('?' for _ in LOG_COLUMNS)})"
)
INSERT_REQUEST = (
    f"INSERT INTO {REQUESTS}({', '.join(REQUEST_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in REQUEST_COLUMNS)})"
)
ADD_COUNTS = (
    f"INSERT INTO {COUNTS}(series, bucket, n) VALUES (?, ?, ?) "
    "ON CONFLICT(series, bucket) DO UPDATE SET n = n + excluded.n"
)


async def add_counts(tx: SqliteTx, rows: Sequence[tuple[str, int, int]]) -> None:
    """Add (or, with negative n, subtract) per-hour counts; drop rows that reach 0."""
    if not rows:
        return
    await tx.executemany(ADD_COUNTS, rows)
    if any(n < 0 for _, _, n in rows):
        await tx.execute(f"DELETE FROM {COUNTS} WHERE n <= 0")


async def insert_logs(
    tx: SqliteTx,
    entries: Sequence[FlareLogEntry],
    extensions: Sequence[StorageExtension],
) -> None:
    """Insert a batch, bump the counters and run extension hooks, all in ``tx``."""
    rows = [log_row(entry, to_micros) for entry in entries]
    await tx.executemany(INSERT_LOG, rows)
    await add_counts(tx, count_buckets((log_series(row[1]), row[0] // HOUR_MICROS) for row in rows))
    hooks = [ext.on_logs_saved for ext in extensions if ext.on_logs_saved is not None]
    if hooks:
        # One writer holds the lock and AUTOINCREMENT counts up by one, so the
        # batch's ids are the contiguous run ending at last_insert_rowid().
        first_id = await tx.last_insert_id() - len(rows) + 1
        saved = [SavedLog(first_id + i, entry) for i, entry in enumerate(entries)]
        for hook in hooks:
            await hook(tx, saved)


async def insert_requests(tx: SqliteTx, entries: Sequence[FlareRequestEntry]) -> None:
    """Insert a batch of tracked requests and bump the request counter."""
    rows = [request_row(entry, to_micros) for entry in entries]
    await tx.executemany(INSERT_REQUEST, rows)
    await add_counts(tx, count_buckets((REQUEST_SERIES, row[0] // HOUR_MICROS) for row in rows))


async def _delete_chunks(db: SqliteDatabase, table: str, condition: str, arg: Any) -> int:
    """Delete rows matching ``condition`` oldest first, PRUNE_CHUNK per transaction."""
    kind = "level" if table == LOGS else "'req'"
    # "id <= ?" walks the rowid from the oldest; "ts < ?" must use the ts index
    # instead (ordering by id would make SQLite scan the table when nothing matches);
    # (ts, id) is that index's own order. A total order makes both statements below
    # pick the same rows.
    order = "id" if condition.startswith("id") else "ts, id"
    chunk = f"SELECT id FROM {table} WHERE {condition} ORDER BY {order} LIMIT {PRUNE_CHUNK}"
    # Counted per hour and kind before the delete rather than with DELETE ... RETURNING:
    # sqlite3 releases and retakes the GIL for every returned row, and each retake
    # waits for a busy event loop, which made pruning under load several times
    # slower than the writes it has to keep up with.
    # Floor division, as the writer buckets in Python (SQLite's "/" truncates).
    hour = f"(ts - CASE WHEN ts < 0 THEN {HOUR_MICROS - 1} ELSE 0 END) / {HOUR_MICROS}"
    count_sql = f"SELECT {hour}, {kind}, count(*) FROM {table} WHERE id IN ({chunk}) GROUP BY 1, 2"
    delete_sql = f"DELETE FROM {table} WHERE id IN ({chunk})"

    async def delete_chunk(tx: SqliteTx) -> int:
        counts = await tx.fetch_all(count_sql, (arg,))
        await tx.execute(delete_sql, (arg,))
        series = REQUEST_SERIES if table == REQUESTS else None
        await add_counts(
            tx, [(series or log_series(k), int(bucket), -int(n)) for bucket, k, n in counts]
        )
        return sum(int(n) for _, _, n in counts)

    total = 0
    while True:
        deleted = await db.run_write(delete_chunk)  # one call to the writer's thread
        total += deleted
        if deleted < PRUNE_CHUNK:
            return total
        await asyncio.sleep(0)  # let a waiting save_logs take the lock between chunks


async def _cap_rows(db: SqliteDatabase, table: str, keep: int) -> int:
    """Delete all but the ``keep`` newest rows (by id).

    The exact per-hour counters give the row count, so only the rows over the cap are
    walked. Walking past the kept ones instead (the table's own B-tree, whole rows)
    took ~0.3 s at 1,000,000 rows on every pass, even with nothing over the cap. Count
    and walk are one statement, so one snapshot: another process pruning meanwhile
    cannot make this pass remove more than the excess it saw.
    """
    # Every level's series, as the storage overview counts them (odd levels too).
    series = REQUEST_SERIES if table == REQUESTS else log_series("%")
    rows = await db.fetch_all(
        f"WITH total(n) AS (SELECT coalesce(sum(n), 0) FROM {COUNTS} WHERE series LIKE ?) "
        f"SELECT id, (SELECT n FROM total) FROM {table} ORDER BY id "
        "LIMIT 1 OFFSET max((SELECT n FROM total) - ?, 1) - 1",
        (series, max(keep, 0)),
    )
    if not rows or int(rows[0][1]) <= keep:
        return 0
    return await _delete_chunks(db, table, "id <= ?", int(rows[0][0]))


async def prune_logs(db: SqliteDatabase, older_than: datetime, max_entries: int) -> int:
    """Retention for log entries: by age (ts index), then by count (id order)."""
    removed = await _delete_chunks(db, LOGS, "ts < ?", to_micros(older_than))
    return removed + await _cap_rows(db, LOGS, max_entries)


async def prune_requests(db: SqliteDatabase, max_requests: int) -> int:
    """Keep the ``max_requests`` newest tracked requests (a ring buffer)."""
    return await _cap_rows(db, REQUESTS, max_requests)
