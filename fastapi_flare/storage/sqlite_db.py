"""SQLite connections: one writer, one reader, transactions and error translation.

Other storage modules (and feature extensions) use ``SqliteDatabase.write()``
and ``SqliteDatabase.fetch_all()`` rather than touching aiosqlite directly, so
every write is serialised on the one writer connection and every driver error
becomes ``StorageError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from fastapi_flare.schema import StorageError
from fastapi_flare.storage._common import short_error
from fastapi_flare.storage.extensions import quote_ident

SQLITE_ERRORS = (sqlite3.Error, aiosqlite.Error, OSError, ValueError)
WAL_CHECKPOINT_PAGES = 10_000
# The writer's page cache (KiB). SQLite's default 2 MB is smaller than a batch of
# 1,000 entries with its index pages: writes spilled dirty pages before the commit
# and re-read index pages. At 1M rows 8 MB raised ingest ~12 % (16 MB: ~15 %, for
# twice the memory); it costs ~7 MB of RSS once the cache is full.
WRITER_CACHE_KIB = 8_192
T = TypeVar("T")
# SQLite's default cap on bound parameters per statement (999 before 3.32).
MAX_VARIABLES = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
MAX_ROWS_PER_INSERT = 500
_VALUES_GROUP = re.compile(r"\bVALUES\s*(\((?:\s*\?\s*,)*\s*\?\s*\))", re.IGNORECASE)


def run_many(raw: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """``executemany``, with an INSERT sent as few multi-row statements.

    sqlite3 steps (and releases and retakes the GIL) once per row; one statement
    per chunk of rows halved the writer thread's CPU per entry (18 → 9 µs under
    load) and spares it GIL waits behind a busy event loop. Rows are applied in
    order, so upserts behave as with ``executemany``.
    """
    match = (
        _VALUES_GROUP.search(sql)
        if len(rows) > 1 and sql.lstrip()[:6].upper() == "INSERT"
        else None
    )
    if match is None:
        raw.executemany(sql, rows)
        return
    width = match.group(1).count("?")
    per_statement = max(1, min(MAX_ROWS_PER_INSERT, MAX_VARIABLES // width))
    head, group, tail = sql[: match.start(1)], match.group(1), sql[match.end(1) :]
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        statement = head + ", ".join([group] * len(chunk)) + tail
        raw.execute(statement, [value for row in chunk for value in row])


def storage_error(path: str, exc: BaseException) -> StorageError:
    """A readable StorageError for a failure on the database at ``path``."""
    reason = short_error(exc)
    if isinstance(exc, ValueError) and "closed" in reason.lower():
        reason = "connection is closed"
    return StorageError(f"SQLite {path}: {reason}")


def is_busy(exc: BaseException) -> bool:
    """True for 'database is locked/busy', which is worth retrying."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def make_parent_folder(path: str) -> None:
    """Create the folder that will hold the database file."""
    Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def probe_open(path: str) -> None:
    """Raise sqlite3.Error now if the file cannot be opened (or created) at all."""
    sqlite3.connect(path).close()


def file_identity(path: str) -> tuple[int, int]:
    """(device, inode) of the file: changes when it is deleted and created again."""
    info = os.stat(path)
    return info.st_dev, info.st_ino


def resolved_path(path: str) -> str:
    """Absolute path of the database file, for display."""
    return str(Path(path).expanduser().resolve())


class SqliteTx:
    """An open write transaction on the writer connection (see ``WriteTx``)."""

    dialect: Literal["sqlite"] = "sqlite"

    logs_table = quote_ident("flare_logs")

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    def table(self, suffix: str) -> str:
        """Quoted name ``flare_{suffix}`` for a feature table."""
        return quote_ident(f"flare_{suffix}")

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement."""
        await self._conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run the statement for every row of parameters (see ``run_many``)."""
        # aiosqlite runs each connection's calls on one thread of its own;
        # _execute hands it a function of ours to run there.
        await self._conn._execute(run_many, self._conn._conn, sql, rows)  # type: ignore[no-untyped-call]

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query and return plain tuples."""
        rows = await self._conn.execute_fetchall(sql, params)
        return [tuple(row) for row in rows]

    async def last_insert_id(self) -> int:
        """Row id of the last row this connection inserted."""
        row = await self.fetch_all("SELECT last_insert_rowid()")
        return int(row[0][0])


class ThreadSideTx(SqliteTx):
    """The same transaction API, run directly on the sqlite3 connection in its own thread.

    Its coroutines never suspend, so a write body made of them can be driven to the
    end inside one call to the connection's thread (see ``SqliteDatabase.write_batch``).
    """

    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement."""
        self._raw.execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run the statement for every row of parameters (see ``run_many``)."""
        run_many(self._raw, sql, rows)

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query and return plain tuples."""
        return [tuple(row) for row in self._raw.execute(sql, params).fetchall()]


def run_to_end(body: Awaitable[T]) -> T:
    """Drive a coroutine that never suspends; refuse one that waits for anything."""
    coroutine: Any = body
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("a batch write body awaited something outside its transaction")


def commit_body(
    raw: sqlite3.Connection, body: Callable[[SqliteTx], Awaitable[T]], begin: bool
) -> T:
    """In the connection's thread: the body, then COMMIT; ROLLBACK on any error."""
    try:
        if begin:
            raw.execute("BEGIN IMMEDIATE")
        result = run_to_end(body(ThreadSideTx(raw)))
        raw.commit()
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            raw.rollback()
        raise
    return result


class SqliteDatabase:
    """The two connections of one SQLite file plus the lock that orders writes."""

    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        self.path = os.path.expanduser(path)  # "~/flare.db" works like in a shell
        self.busy_timeout_ms = busy_timeout_ms
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._identity: tuple[int, int] | None = None
        self.last_write_error: str | None = None

    @property
    def is_open(self) -> bool:
        """True between a successful ``connect()`` and ``close()``."""
        return self._writer is not None and self._reader is not None

    async def connect(self) -> None:
        """Create the folder, open both connections and set the pragmas."""
        try:
            make_parent_folder(self.path)
            # IMMEDIATE: the driver opens "BEGIN IMMEDIATE" by itself right before
            # the first INSERT of a transaction, in the same call (one thread hop
            # less per batch; see write_batch).
            self._writer = await self._open_connection("IMMEDIATE")
            await self._retry_busy(self._writer, "PRAGMA journal_mode=WAL")
            await self._writer.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints (copy WAL into the file + fsync) every ~40 MB rather
            # than every 4 MB: at a million rows a batch dirties index pages all
            # over the file, and the default made checkpoints the writer's main
            # cost (measured 2-3x ingest at 1M rows).
            await self._writer.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            await self._writer.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
            self._identity = file_identity(self.path)
        except SQLITE_ERRORS as exc:
            await self.close()
            raise storage_error(self.path, exc) from exc

    async def connect_reader(self) -> None:
        """Open the read connection (after the schema exists)."""
        try:
            self._reader = await self._open_connection(None)
            # The reader never writes: a bug can't take the write lock from the writer.
            await self._reader.execute("PRAGMA query_only=1")
        except SQLITE_ERRORS as exc:
            await self.close()
            raise storage_error(self.path, exc) from exc

    async def _open_connection(
        self, isolation_level: Literal["IMMEDIATE"] | None
    ) -> aiosqlite.Connection:
        # Open a throwaway connection first: when aiosqlite's own connect fails it
        # leaves its thread to report to the event loop later, which may be gone.
        await asyncio.to_thread(probe_open, self.path)
        conn = await aiosqlite.connect(
            self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=isolation_level
        )
        try:
            await conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _retry_busy(self, conn: aiosqlite.Connection, sql: str) -> None:
        # Switching to WAL needs a moment alone with the file; when several
        # processes open it at once SQLite may answer "locked" without waiting.
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                await conn.execute(sql)
                return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.02)

    async def close(self) -> None:
        """Close both connections; safe to call twice."""
        for attr in ("_reader", "_writer"):
            conn: aiosqlite.Connection | None = getattr(self, attr)
            setattr(self, attr, None)
            if conn is not None:
                # Closing a broken connection: nothing left to release.
                with contextlib.suppress(*SQLITE_ERRORS):
                    await conn.close()

    @asynccontextmanager
    async def write(self, *, begin: bool = True) -> AsyncIterator[SqliteTx]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` on the writer, one transaction at a time.

        IMMEDIATE takes the file's write lock up front (waiting up to
        busy_timeout for other processes), so a transaction never fails halfway
        with a busy snapshot. ``begin=False`` is for bodies whose first statement
        is an INSERT: the driver then begins the transaction in that same call.
        Housekeeping writes leave ``last_write_error`` alone: a prune that commits
        must not hide failing entry writes (those go through ``write_batch``).
        """
        async with self._write_lock:
            conn = self._writer
            if conn is None:
                raise StorageError(f"SQLite {self.path}: storage is not open")
            try:
                if begin:
                    await self._retry_busy(conn, "BEGIN IMMEDIATE")
                yield SqliteTx(conn)
                await conn.commit()
            except BaseException as exc:
                # No transaction left to roll back when the connection is gone.
                with contextlib.suppress(*SQLITE_ERRORS):
                    await conn.rollback()
                if isinstance(exc, SQLITE_ERRORS):
                    raise storage_error(self.path, exc) from exc
                raise

    async def write_batch(
        self,
        body: Callable[[SqliteTx], Awaitable[T]],
        *,
        housekeeping: bool = False,
        begin: bool = False,
    ) -> T:
        """Run ``body`` and COMMIT in one call to the writer's thread.

        Each ``await`` on the event loop costs a wait for the loop's next turn,
        which under load means every ready request before it; a batch made of five
        statements paid that five times, holding the write lock all along. The
        body may await only the ``tx`` it is given. Entry writes begin their
        transaction with their first INSERT (IMMEDIATE mode); a body that reads
        first needs ``begin`` (``BEGIN IMMEDIATE``: no other process writes between
        its reads and its writes). A failure is kept in ``last_write_error``
        for the storage panel; only an entry write that succeeds clears it, so a
        ``housekeeping`` write (indexing, pruning, metrics) that commits cannot hide
        failing entry writes.
        """
        async with self._write_lock:
            conn = self._writer
            if conn is None:
                raise StorageError(f"SQLite {self.path}: storage is not open")
            try:
                # aiosqlite runs each connection's calls on one thread of its own;
                # _execute hands it a function of ours to run there with the rest.
                result: T = await conn._execute(commit_body, conn._conn, body, begin)  # type: ignore[no-untyped-call]
            except SQLITE_ERRORS as exc:
                error = storage_error(self.path, exc)
                self.last_write_error = str(error)
                raise error from exc
            except StorageError as exc:
                self.last_write_error = str(exc)
                raise
            if not housekeeping:
                self.last_write_error = None
            return result

    async def run_write(self, body: Callable[[SqliteTx], Awaitable[T]]) -> T:
        """Background work: BEGIN IMMEDIATE, ``body``, COMMIT in one thread call.

        For indexing, pruning and metrics flushes (see ``write_batch``).
        """
        return await self.write_batch(body, housekeeping=True, begin=True)

    def same_file(self) -> bool:
        """False once the file at ``path`` was deleted or replaced since connect()."""
        try:
            return file_identity(self.path) == self._identity
        except OSError:
            return False

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query on the reader connection; plain tuples back."""
        conn = self._reader
        if conn is None:
            raise StorageError(f"SQLite {self.path}: storage is not open")
        try:
            rows = await conn.execute_fetchall(sql, params)
        except SQLITE_ERRORS as exc:
            raise storage_error(self.path, exc) from exc
        return [tuple(row) for row in rows]

    async def fetch_value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """First column of the first row, or None."""
        rows = await self.fetch_all(sql, params)
        return rows[0][0] if rows else None
