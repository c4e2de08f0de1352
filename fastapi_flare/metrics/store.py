"""The metrics tables behind a storage: add batches to the rollups, read them, prune them.

Registered with the storage as a ``StorageExtension``: the DDL runs in the backend's
locked schema transaction, pruning in every retention pass. There is one row per
bucket, route and method, whatever the number of processes: a flush adds its batch
to the stored rows inside one write transaction. Both backends run write transactions
one at a time per database (SQLite ``BEGIN IMMEDIATE``; PostgreSQL takes the table's
advisory lock first), so the read-add-write cannot lose a concurrent update; histograms
are added in Python, which SQL cannot do. A per-writer sequence number, stored in the
same transaction, makes a retried batch count once even if its first commit went
through unnoticed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from fastapi_flare.metrics.model import DAY, RESOLUTIONS, Batch, MetricRow, StoredRow
from fastapi_flare.metrics.ranges import USEFUL_SECONDS
from fastapi_flare.schema import PruneResult, StorageError
from fastapi_flare.storage.extensions import (
    PgNames,
    PruneContext,
    StorageExtension,
    WriteTx,
    quote_ident,
)

TABLE_SUFFIX = "metrics"  # flare_metrics on SQLite, {pg_table_name}_metrics on PostgreSQL
FLUSHES_SUFFIX = "metrics_flushes"  # last batch number applied, per writer
# A writer silent this long is gone; its batches were given up after 3 h anyway.
FLUSH_MARKER_SECONDS = DAY
# (all-routes rows?, resolution, delete buckets starting before this epoch second)
Limit = tuple[bool, int, int]

T = TypeVar("T")


@runtime_checkable
class MetricsDatabase(Protocol):
    """The storage helpers the metrics tables need (both built-in backends have them)."""

    backend_name: str

    def add_extension(self, extension: StorageExtension) -> None:
        """Register extra tables before ``open()``."""

    def write_transaction(self) -> AbstractAsyncContextManager[WriteTx]:
        """One write transaction (serialised with every other writer of the database)."""
        ...

    async def run_write(self, body: Callable[[Any], Awaitable[T]]) -> T:
        """``body(tx)`` in one write transaction; the body awaits only ``tx``."""
        ...

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read query; plain tuples back."""
        ...


@dataclass(frozen=True, slots=True)
class MetricsSql:
    """The statements of one dialect, for one pair of table names."""

    upsert: str
    select_bucket: str
    select_totals: str
    select_routes: str
    delete_totals_before: str
    delete_routes_before: str
    select_flush: str
    upsert_flush: str
    delete_flushes_before: str


class MetricsStore:
    """Reads and writes rollups through a storage's helpers; raises ``StorageError``."""

    def __init__(self, db: MetricsDatabase, sql: MetricsSql) -> None:
        self.db = db
        self.sql = sql

    async def write(self, batch: Batch, *, now: float | None = None) -> bool:
        """Add ``batch`` to the stored rows; False when this writer's batch was applied before."""
        moment = int(time.time() if now is None else now)

        async def apply(tx: WriteTx) -> bool:
            done = await tx.fetch_all(self.sql.select_flush, (batch.writer,))
            if done and int(done[0][0]) >= batch.seq:
                return False
            merged = await self._merged(tx, batch.rows)
            await tx.executemany(self.sql.upsert, [row.values() for row in merged])
            await tx.execute(self.sql.upsert_flush, (batch.writer, batch.seq, moment))
            return True

        return await self.db.run_write(apply)

    async def _merged(self, tx: WriteTx, rows: Sequence[MetricRow]) -> list[MetricRow]:
        """``rows`` plus what is stored for them, in key order (writers lock rows alike)."""
        buckets: dict[tuple[int, int], dict[tuple[str, str], MetricRow]] = {}
        for row in rows:
            group = buckets.setdefault((row.resolution, row.bucket_start), {})
            key = (row.route, row.method)
            old = group.get(key)
            group[key] = row if old is None else row.plus(_stored(old))
        merged: list[MetricRow] = []
        for (resolution, start), group in sorted(buckets.items()):
            for stored in await tx.fetch_all(self.sql.select_bucket, (resolution, start)):
                key = (stored[1], stored[2])
                if key in group:
                    group[key] = group[key].plus(stored)
            merged.extend(group[key] for key in sorted(group))
        return merged

    async def fetch(
        self, *, resolution: int, since: int, until: int, totals: bool
    ) -> list[StoredRow]:
        """Rows of one resolution with ``since <= bucket_start < until``.

        ``totals`` selects the all-routes rows that feed the charts, else per-route rows.
        """
        sql = self.sql.select_totals if totals else self.sql.select_routes
        return await self.db.fetch_all(sql, (resolution, since, until))  # READ_COLUMNS order

    async def prune(self, *, now: float, retention_days: int) -> int:
        """One retention pass of the metrics tables; returns the rollup rows deleted."""
        return await self.db.run_write(lambda tx: prune_in(tx, self.sql, now, retention_days))


def _stored(row: MetricRow) -> StoredRow:
    return row.values()[1:]  # READ_COLUMNS is COLUMNS without the resolution


async def prune_in(tx: WriteTx, sql: MetricsSql, now: float, retention_days: int) -> int:
    """Delete old rollups (one indexed range per limit) and stale flush markers."""
    deleted = 0
    for totals, resolution, before in cutoffs(now, retention_days):
        statement = sql.delete_totals_before if totals else sql.delete_routes_before
        deleted += len(await tx.fetch_all(statement, (resolution, before)))
    await tx.fetch_all(sql.delete_flushes_before, (int(now) - FLUSH_MARKER_SECONDS,))
    return deleted


def cutoffs(now: float, retention_days: int) -> list[Limit]:
    """``(totals, resolution, bucket start below which rows go)`` for one retention pass.

    Each rollup lives as long as a view reads it (``USEFUL_SECONDS``), days live
    ``retention_days``, and nothing lives longer than that. A bucket goes once it
    lies wholly before its limit.
    """
    longest = retention_days * DAY
    limits: list[Limit] = []
    for resolution in RESOLUTIONS:
        for totals in (False, True):
            keep = min(USEFUL_SECONDS.get((totals, resolution), longest), longest)
            limits.append((totals, resolution, int(now) - keep - resolution))
    return limits


def statements(dialect: str, table: str, flushes: str) -> MetricsSql:
    """The statements of ``dialect`` for the quoted table names."""
    if dialect == "postgresql":
        from fastapi_flare.storage import postgres_metrics

        return postgres_metrics.statements(table, flushes)
    if dialect == "sqlite":
        from fastapi_flare.storage import sqlite_metrics

        return sqlite_metrics.statements(table, flushes)
    raise StorageError(f"metrics need the sqlite or postgresql backend, not {dialect!r}")


def store_for(storage: object) -> MetricsStore:
    """The metrics store living beside ``storage`` (same file, or same database and prefix)."""
    if not isinstance(storage, MetricsDatabase):
        raise StorageError(f"{type(storage).__name__} cannot hold metrics tables")
    if storage.backend_name == "postgresql":
        names = getattr(storage, "names", None)
        if not isinstance(names, PgNames):
            raise StorageError("PostgreSQL storage without table names")
        tables = names.table(TABLE_SUFFIX), names.table(FLUSHES_SUFFIX)
    else:  # what SqliteTx.table() calls them
        tables = quote_ident(f"flare_{TABLE_SUFFIX}"), quote_ident(f"flare_{FLUSHES_SUFFIX}")
    return MetricsStore(storage, statements(storage.backend_name, *tables))


def metrics_extension(
    retention_days: int, *, clock: Callable[[], float] = time.time
) -> StorageExtension:
    """The metrics tables' DDL and their pruning, to register with the storage."""
    from fastapi_flare.storage import postgres_metrics, sqlite_metrics

    async def on_prune(tx: WriteTx, ctx: PruneContext) -> PruneResult:
        sql = statements(tx.dialect, tx.table(TABLE_SUFFIX), tx.table(FLUSHES_SUFFIX))
        return PruneResult(metrics=await prune_in(tx, sql, clock(), retention_days))

    return StorageExtension(
        name="metrics",
        sqlite_ddl=sqlite_metrics.DDL,
        postgres_ddl=postgres_metrics.ddl,
        on_prune=on_prune,
    )
