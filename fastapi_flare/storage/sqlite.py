"""SQLite backend: one file, WAL, a writer and a reader connection.

Module layout: ``sqlite_db`` (connections, transactions, errors),
``sqlite_schema`` (DDL), ``sqlite_write`` (inserts, retention),
``sqlite_search`` (paged queries, trigram search), this module (the
``Storage`` methods). Feature modules plug in through ``extensions``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, TypeVar

from fastapi_flare.schema import (
    FlareLogEntry,
    FlareRequestEntry,
    LogQuery,
    LogStats,
    Page,
    PruneResult,
    RequestQuery,
    StorageOverview,
)
from fastapi_flare.storage import sqlite_read as read
from fastapi_flare.storage import sqlite_search as search
from fastapi_flare.storage import sqlite_write as write
from fastapi_flare.storage._common import (
    Direction,
    from_micros,
    parse_id,
    search_term,
    to_micros,
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
    PruneContext,
    PruneHook,
    StorageExtension,
    add_results,
)
from fastapi_flare.storage.indexer import BackgroundIndexer
from fastapi_flare.storage.sqlite_db import SqliteDatabase, SqliteTx
from fastapi_flare.storage.sqlite_schema import (
    LOG_SEARCH,
    LOGS,
    REQUEST_SEARCH,
    REQUESTS,
    create_schema,
    trigram_available,
)

logger = logging.getLogger("fastapi_flare")

INDEX_CHUNK_ROWS = 500  # ~30 ms of FTS5 work per transaction

T = TypeVar("T")


class SqliteStorage:
    """``Storage`` on one SQLite file (safe to share between worker processes)."""

    backend_name = "sqlite"

    def __init__(
        self,
        path: str,
        *,
        busy_timeout_ms: int = 5000,
        search_index: bool = True,
        background_indexing: bool = True,
    ) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._db = SqliteDatabase(path, busy_timeout_ms)
        self._want_search = search_index
        self._search = False
        self._extensions: list[StorageExtension] = []
        self._indexer = BackgroundIndexer(self._index_step, INDEX_CHUNK_ROWS, "sqlite")
        self._background_indexing = background_indexing
        self._reopen_lock = asyncio.Lock()
        self._wanted_open = False  # between open() and close(): reconnect when lost

    # ── lifecycle and extension helpers ─────────────────────────────────
    def add_extension(self, extension: StorageExtension) -> None:
        """Register a feature's tables and hooks (before ``open()``)."""
        self._extensions.append(extension)

    async def open(self) -> None:
        """Create folder, file and schema; open the writer and reader connections."""
        if self._db.is_open:
            return
        self._wanted_open = True
        await self._connect()

    async def _connect(self) -> None:
        await self._db.connect()
        try:
            want = self._want_search and trigram_available()
            async with self._db.write() as tx:
                self._search = await create_schema(
                    tx, search=want, extensions=tuple(self._extensions)
                )
            await self._db.connect_reader()
        except BaseException:
            await self._db.close()
            raise
        if self._search and self._background_indexing:
            self._indexer.start()
            self._indexer.notify_write()

    async def close(self) -> None:
        """Stop the indexer and close both connections; safe to call twice."""
        self._wanted_open = False
        await self._disconnect()

    async def _disconnect(self) -> None:
        await self._indexer.stop()
        await self._db.close()

    def write_transaction(self) -> AbstractAsyncContextManager[SqliteTx]:
        """A write transaction on the writer connection, for feature modules."""
        return self._db.write()

    async def run_write(self, body: Callable[[SqliteTx], Awaitable[T]]) -> T:
        """``body(tx)`` in one write transaction, run whole in the writer's thread.

        Preferred over ``write_transaction`` for background work: the write lock is
        held for the work alone, not for an event-loop turn per statement, which
        under load kept entry writes waiting for hundreds of milliseconds. The body
        may await only ``tx``.
        """
        return await self._db.run_write(body)

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read query on the reader connection, for feature modules."""
        return await self._db.fetch_all(sql, params)

    # ── writes ──────────────────────────────────────────────────────────
    async def _reopen_if_replaced(self) -> None:
        # A deleted (or swapped) file stays writable through our open handles,
        # so every later entry would vanish with the old inode: reopen instead,
        # and keep trying on each write while the path cannot be opened.
        if not self._wanted_open or (self._db.is_open and self._db.same_file()):
            return
        async with self._reopen_lock:
            if not self._wanted_open or (self._db.is_open and self._db.same_file()):
                return
            if self._db.is_open:
                logger.warning("SQLite file %s was deleted or replaced; reopening", self.path)
                await self._disconnect()
            await self._connect()

    async def save_logs(self, entries: Sequence[FlareLogEntry]) -> None:
        """Insert a batch in one transaction."""
        if not entries:
            return
        await self._reopen_if_replaced()
        await self._db.write_batch(lambda tx: write.insert_logs(tx, entries, self._extensions))
        self._indexer.notify_write()

    async def save_requests(self, entries: Sequence[FlareRequestEntry]) -> None:
        """Insert a batch of tracked requests in one transaction."""
        if not entries:
            return
        await self._reopen_if_replaced()
        await self._db.write_batch(lambda tx: write.insert_requests(tx, entries))
        self._indexer.notify_write()

    async def prune(
        self, *, older_than: datetime, max_entries: int, max_requests: int
    ) -> PruneResult:
        """Delete old rows and cap table sizes, in short transactions."""
        await self._reopen_if_replaced()
        result = PruneResult(
            logs=await write.prune_logs(self._db, older_than, max_entries),
            requests=await write.prune_requests(self._db, max_requests),
        )
        ctx = PruneContext(utc(older_than), max_entries, max_requests)
        hooks = [ext.on_prune for ext in self._extensions if ext.on_prune is not None]
        for hook in hooks:
            result = add_results(result, await self.run_write(_bound(hook, ctx)))
        return result

    async def _index_step(self, max_rows: int) -> int:
        done = await search.index_step(self._db, LOG_SEARCH, max_rows)
        return done + await search.index_step(self._db, REQUEST_SEARCH, max_rows)

    async def build_search_index(self) -> int:
        """Index every pending row now (the background task does this gradually)."""
        total = 0
        if not self._search:
            return 0
        while True:
            done = await self._index_step(5000)
            total += done
            if done == 0:
                return total

    # ── reads ───────────────────────────────────────────────────────────
    async def list_logs(self, query: LogQuery) -> Page[FlareLogEntry]:
        """Newest-first page of log entries matching ``query``."""
        term = search_term(query.search)
        upto = await search.search_upto(self._db, LOG_SEARCH) if term and self._search else None

        def filters(p: Params) -> list[str]:
            return log_filters(query, p, to_micros, "t")

        async def fetch(
            before: int | None, after: int | None, direction: Direction, limit: int
        ) -> list[tuple[int, FlareLogEntry]]:
            p = Params("sqlite")
            sql = search.page_sql(
                LOG_SEARCH, LOG_COLUMNS, filters, p, term=term, upto=upto,
                before=before, after=after, direction=direction, limit=limit,
            )  # fmt: skip
            rows = await self._db.fetch_all(sql, p.values)
            return [(int(row[0]), to_log(row, from_micros)) for row in rows]

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
            p = Params("sqlite")
            sql = search.page_sql(
                REQUEST_SEARCH, REQUEST_COLUMNS, filters, p, term=term, upto=upto,
                before=before, after=after, direction=direction, limit=limit,
            )  # fmt: skip
            rows = await self._db.fetch_all(sql, p.values)
            return [(int(row[0]), to_request(row, from_micros)) for row in rows]

        return await keyset_page(fetch, query.before_id, query.after_id, query.limit)

    async def get_log(self, entry_id: str) -> FlareLogEntry | None:
        """One entry by id, or None (also for ids that are not numbers)."""
        row_id = parse_id(entry_id)
        if row_id is None:
            return None
        sql = f"SELECT {select_list('t', LOG_COLUMNS)} FROM {LOGS} AS t WHERE t.id = ?"
        rows = await self._db.fetch_all(sql, (row_id,))
        return to_log(rows[0], from_micros) if rows else None

    async def get_request(self, entry_id: str) -> FlareRequestEntry | None:
        """One tracked request by id, or None."""
        row_id = parse_id(entry_id)
        if row_id is None:
            return None
        sql = f"SELECT {select_list('t', REQUEST_COLUMNS)} FROM {REQUESTS} AS t WHERE t.id = ?"
        rows = await self._db.fetch_all(sql, (row_id,))
        return to_request(rows[0], from_micros) if rows else None

    async def list_events(self) -> list[str]:
        """Distinct event names, sorted (a skip-scan of the event index)."""
        return await read.list_events(self._db)

    async def stats(self, now: datetime) -> LogStats:
        """Stats cards: exact, from per-hour counters plus one partial hour."""
        return await read.stats(self._db, now)

    async def overview(self) -> StorageOverview:
        """File sizes, counts, versions; never raises."""
        return await read.overview(self._db, self.backend_name, self._search)


def _bound(hook: PruneHook, ctx: PruneContext) -> Callable[[SqliteTx], Awaitable[PruneResult]]:
    """``hook`` with its context filled in, as a ``run_write`` body."""

    async def body(tx: SqliteTx) -> PruneResult:
        return await hook(tx, ctx)

    return body
