"""PostgreSQL backend: asyncpg pool, per-project tables, batch COPY writes.

Module layout: ``postgres_db`` (pool, transactions, errors), ``postgres_schema``
(DDL), ``postgres_write`` (inserts, retention), ``postgres_search`` (paged
queries, trigram search), this module (the ``Storage`` methods). Feature
modules plug in through ``extensions``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from fastapi_flare.config import IDENTIFIER_PATTERN
from fastapi_flare.schema import (
    FlareLogEntry,
    FlareRequestEntry,
    LogQuery,
    LogStats,
    Page,
    PruneResult,
    RequestQuery,
    StorageError,
    StorageOverview,
)
from fastapi_flare.storage import postgres_read as read
from fastapi_flare.storage import postgres_search as search
from fastapi_flare.storage import postgres_write as write
from fastapi_flare.storage._common import (
    Direction,
    parse_id,
    search_term,
    utc,
)
from fastapi_flare.storage._paging import keyset_page
from fastapi_flare.storage._sql import (
    LOG_COLUMNS,
    REQUEST_COLUMNS,
    Params,
    log_filters,
    request_filters,
    select_list,
    to_log,
    to_request,
)
from fastapi_flare.storage.extensions import (
    PgNames,
    PruneContext,
    StorageExtension,
    add_results,
)
from fastapi_flare.storage.indexer import BackgroundIndexer
from fastapi_flare.storage.postgres_db import CommitUncertain, PgDatabase, PgTx, redact_dsn
from fastapi_flare.storage.postgres_schema import (
    DDL_LOCK_KEY,
    LOG_SEARCH,
    REQUEST_SEARCH,
    create_schema,
)

logger = logging.getLogger("fastapi_flare")
T = TypeVar("T")

INDEX_CHUNK_ROWS = 2000
# How often prune() looks for tables with missing or stale planner statistics.
STATS_CHECK_SECONDS = 60.0
# Batches whose COMMIT answer was lost, remembered until retried (one, normally).
MAX_UNSURE_BATCHES = 16


class _UnsureBatch(NamedTuple):
    """A batch that may have committed: its entries and the key it committed with."""

    entries: tuple[object, ...]  # held, so their id()s cannot be reused meanwhile
    key: uuid.UUID


class PostgresStorage:
    """``Storage`` on PostgreSQL tables ``{table_name}`` and ``{table_name}_requests``."""

    backend_name = "postgresql"

    def __init__(
        self,
        dsn: str,
        *,
        table_name: str = "flare_logs",
        pool_min_size: int = 1,
        pool_max_size: int = 4,
        connect_timeout: float = 5.0,
        command_timeout: float = 10.0,
        application_name: str = "fastapi-flare",
        synchronous_commit: bool = False,
        search_index: bool = True,
        background_indexing: bool = True,
    ) -> None:
        if not IDENTIFIER_PATTERN.match(table_name):
            raise ValueError(f"table_name {table_name!r} is not a plain SQL identifier")
        self.table_name = table_name
        self.names = PgNames(table_name)
        # Dashboard filters vary wildly in selectivity; a cached generic plan
        # chosen for one search term can take seconds for the next.
        settings = {"application_name": application_name, "plan_cache_mode": "force_custom_plan"}
        if not synchronous_commit:
            # Batches commit without waiting for the WAL flush: a server crash may
            # lose the last fraction of a second of entries, never consistency.
            settings["synchronous_commit"] = "off"
        self._db = PgDatabase(
            dsn,
            self.names,
            pool_min_size=pool_min_size,
            pool_max_size=pool_max_size,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
            server_settings=settings,
        )
        self._location = f"{redact_dsn(dsn)} (table {table_name})"
        self._want_search = search_index
        self._search = False
        self._extensions: list[StorageExtension] = []
        self._indexer = BackgroundIndexer(self._index_step, INDEX_CHUNK_ROWS, table_name)
        self._background_indexing = background_indexing
        self._stats_checked_at = 0.0
        self._unsure: dict[tuple[int, ...], _UnsureBatch] = {}

    # ── lifecycle and extension helpers ─────────────────────────────────
    def add_extension(self, extension: StorageExtension) -> None:
        """Register a feature's tables and hooks (before ``open()``)."""
        self._extensions.append(extension)

    async def open(self) -> None:
        """Connect the pool and create the schema (serialised across processes)."""
        if self._db.pool is not None:
            return
        await self._db.connect()
        try:
            async with self._db.write(DDL_LOCK_KEY) as tx:
                self._search = await create_schema(
                    tx, search=self._want_search, extensions=tuple(self._extensions)
                )
        except BaseException:
            await self._db.close()
            raise
        if self._search and self._background_indexing:
            self._indexer.start()
            self._indexer.notify_write()

    async def close(self) -> None:
        """Stop the indexer and close the pool; safe to call twice."""
        await self._indexer.stop()
        await self._db.close()

    def write_transaction(self) -> AbstractAsyncContextManager[PgTx]:
        """A transaction holding this table's write lock, for feature modules."""
        return self._db.write()

    async def run_write(self, body: Callable[[PgTx], Awaitable[T]]) -> T:
        """``body(tx)`` in one write transaction (the same API as SQLite's).

        A failure shows on the storage panel until an entry write succeeds.
        """
        try:
            async with self._db.write() as tx:
                return await body(tx)
        except StorageError as exc:
            self._db.last_write_error = str(exc)
            raise

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read query on a pooled connection, for feature modules."""
        return await self._db.fetch_all(sql, params)

    # ── writes ──────────────────────────────────────────────────────────
    async def save_logs(self, entries: Sequence[FlareLogEntry]) -> None:
        """COPY a batch in one transaction (exactly once, see ``_save``)."""
        if entries:
            await self._save(entries, lambda tx: write.insert_logs(tx, entries, self._extensions))

    async def save_requests(self, entries: Sequence[FlareRequestEntry]) -> None:
        """COPY a batch of tracked requests in one transaction (exactly once)."""
        if entries:
            await self._save(entries, lambda tx: write.insert_requests(tx, entries))

    async def _save(
        self, entries: Sequence[object], insert: Callable[[PgTx], Awaitable[None]]
    ) -> None:
        """Write a batch, or nothing when a retry finds it already committed.

        Every batch commits a random key with it. When the COMMIT answer is lost
        the batch may be in or not; the writer retries with the same entry
        objects, so the key is kept under their identity and the retry looks it
        up first (one SELECT, only then).
        """
        batch = tuple(map(id, entries))
        unsure = self._unsure.get(batch)
        key = unsure.key if unsure is not None else uuid.uuid4()
        try:
            async with self._db.write(records_outcome=True) as tx:
                if unsure is None or not await write.batch_saved(tx, key):
                    await insert(tx)
                    write.record_batch(tx, key)
        except CommitUncertain:
            # (Other failures certainly did not commit: nothing new to remember.)
            self._unsure.pop(batch, None)  # re-added as the newest
            self._unsure[batch] = _UnsureBatch(tuple(entries), key)
            if len(self._unsure) > MAX_UNSURE_BATCHES:  # batches the writer gave up on
                del self._unsure[next(iter(self._unsure))]
            raise
        self._unsure.pop(batch, None)
        self._indexer.notify_write()

    async def prune(
        self, *, older_than: datetime, max_entries: int, max_requests: int
    ) -> PruneResult:
        """Delete old rows and cap table sizes, in short transactions."""
        result = PruneResult(
            logs=await write.prune_logs(self._db, older_than, max_entries, self._search),
            requests=await write.prune_requests(self._db, max_requests, self._search),
        )
        await write.prune_batches(self._db, [batch.key for batch in self._unsure.values()])
        ctx = PruneContext(utc(older_than), max_entries, max_requests)
        for extension in self._extensions:
            if extension.on_prune is not None:
                async with self._db.write() as tx:
                    result = add_results(result, await extension.on_prune(tx, ctx))
        if time.monotonic() - self._stats_checked_at > STATS_CHECK_SECONDS:
            try:
                await self.refresh_statistics()
            except StorageError as exc:  # e.g. not the tables' owner: plans stay as they are
                logger.debug("statistics refresh skipped: %s", exc)
        return result

    async def refresh_statistics(self) -> list[str]:
        """ANALYZE our tables when their statistics are missing or stale (see postgres_write)."""
        self._stats_checked_at = time.monotonic()
        suffixes = ["", "requests", *(["search", "requests_search"] if self._search else [])]
        return await write.refresh_statistics(self._db, suffixes)

    async def _index_step(self, max_rows: int) -> int:
        done = await search.index_step(self._db, LOG_SEARCH, max_rows)
        return done + await search.index_step(self._db, REQUEST_SEARCH, max_rows)

    async def build_search_index(self) -> int:
        """Index every pending row now (the background task does this gradually)."""
        total = 0
        while self._search:
            done = await self._index_step(5_000)  # each step well within command_timeout
            total += done
            if done == 0:
                break
        await self.refresh_statistics()
        return total

    # ── reads ───────────────────────────────────────────────────────────
    async def list_logs(self, query: LogQuery) -> Page[FlareLogEntry]:
        """Newest-first page of log entries matching ``query``."""
        term = search_term(query.search)
        upto = await search.search_upto(self._db, LOG_SEARCH) if term and self._search else None

        def filters(p: Params) -> list[str]:
            return log_filters(query, p, utc, "t")

        async def fetch(
            before: int | None, after: int | None, direction: Direction, limit: int
        ) -> list[tuple[int, FlareLogEntry]]:
            reader = search.PageReader(self._db, LOG_SEARCH, LOG_COLUMNS, filters, direction)
            rows = await reader.page(term, upto, before, after, limit)
            return [(int(row[0]), to_log(row, utc)) for row in rows]

        return await keyset_page(fetch, query.before_id, query.after_id, query.limit)

    async def list_requests(self, query: RequestQuery) -> Page[FlareRequestEntry]:
        """Newest-first page of tracked requests matching ``query``."""
        term = search_term(query.search)
        upto = await search.search_upto(self._db, REQUEST_SEARCH) if term and self._search else None

        def filters(p: Params) -> list[str]:
            return request_filters(query, p, "t")

        async def fetch(
            before: int | None, after: int | None, direction: Direction, limit: int
        ) -> list[tuple[int, FlareRequestEntry]]:
            reader = search.PageReader(
                self._db, REQUEST_SEARCH, REQUEST_COLUMNS, filters, direction
            )
            rows = await reader.page(term, upto, before, after, limit)
            return [(int(row[0]), to_request(row, utc)) for row in rows]

        return await keyset_page(fetch, query.before_id, query.after_id, query.limit)

    async def get_log(self, entry_id: str) -> FlareLogEntry | None:
        """One entry by id, or None (also for ids that are not numbers)."""
        row_id = parse_id(entry_id)
        if row_id is None:
            return None
        sql = (
            f"SELECT {select_list('t', LOG_COLUMNS)} FROM {self.names.table()} AS t WHERE t.id = $1"
        )
        rows = await self._db.fetch_all(sql, (row_id,))
        return to_log(rows[0], utc) if rows else None

    async def get_request(self, entry_id: str) -> FlareRequestEntry | None:
        """One tracked request by id, or None."""
        row_id = parse_id(entry_id)
        if row_id is None:
            return None
        table = self.names.table("requests")
        sql = f"SELECT {select_list('t', REQUEST_COLUMNS)} FROM {table} AS t WHERE t.id = $1"
        rows = await self._db.fetch_all(sql, (row_id,))
        return to_request(rows[0], utc) if rows else None

    async def list_events(self) -> list[str]:
        """Distinct event names, sorted (a loose index scan)."""
        return await read.list_events(self._db)

    async def stats(self, now: datetime) -> LogStats:
        """Stats cards: exact, from per-hour counters plus one partial hour."""
        return await read.stats(self._db, now)

    async def overview(self) -> StorageOverview:
        """Server version, pool stats, table sizes and counts; never raises."""
        return await read.overview(self._db, self.backend_name, self._location, self._search)
