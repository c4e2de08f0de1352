"""PostgreSQL connections: the asyncpg pool, write transactions and error translation.

Every write (batches, retention, feature hooks) runs in ``PgDatabase.write()``:
a transaction that first takes a transaction-level advisory lock keyed by the
table name. Writers of one table (in any process) therefore commit one after
another, which keeps ids in commit order (the search indexer and keyset
cursors rely on that: no row ever commits below an id already visible) and
the counters exact.

A COMMIT whose answer never arrives (connection lost) may or may not have
committed; ``write()`` raises ``CommitUncertain`` then, so entry writes can
check a batch key instead of sending the batch twice (see ``PostgresStorage``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from fastapi_flare.schema import StorageError
from fastapi_flare.storage._common import short_error
from fastapi_flare.storage.extensions import PgNames

PG_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)


def storage_error(exc: BaseException) -> StorageError:
    """A readable StorageError (never containing the DSN or its password)."""
    if isinstance(exc, TimeoutError):
        return StorageError("PostgreSQL: timed out")
    return StorageError(f"PostgreSQL: {short_error(exc)}")


class CommitUncertain(StorageError):
    """COMMIT was sent but its answer was lost: the transaction may have committed."""


def advisory_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for ``name``."""
    digest = hashlib.sha256(f"fastapi-flare:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def redact_dsn(dsn: str) -> str:
    """The DSN with its password replaced by ``***`` (for display)."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "postgresql://***"
    if not parts.scheme or parts.password is None:
        return dsn if parts.scheme else "(connection string)"
    host = parts.netloc.rsplit("@", 1)[-1]
    user = parts.netloc.rsplit("@", 1)[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class PgTx:
    """An open write transaction holding the table's write lock (see ``WriteTx``)."""

    dialect: Literal["postgresql"] = "postgresql"

    def __init__(self, conn: asyncpg.Connection, names: PgNames, timeout: float) -> None:
        self.conn = conn
        self.names = names
        self.logs_table = names.table()
        self.deferred: list[str] = []
        self._timeout = timeout

    def defer(self, sql: str) -> None:
        """Run ``sql`` (no parameters: literals only) together with the COMMIT."""
        self.deferred.append(sql)

    def table(self, suffix: str) -> str:
        """Quoted ``{table_name}_{suffix}`` for a feature table."""
        return self.names.table(suffix)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement."""
        await self.conn.execute(sql, *params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement per row of parameters."""
        await self.conn.executemany(sql, rows)

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query and return plain tuples."""
        return [tuple(row) for row in await self.conn.fetch(sql, *params)]

    async def copy(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Bulk insert with COPY (the fastest way in; ``table`` unquoted)."""
        await self.conn.copy_records_to_table(
            table, records=rows, columns=list(columns), timeout=self._timeout
        )


async def _abandon(conn: asyncpg.Connection) -> None:
    """Roll back a failed hand-opened transaction, or drop the connection.

    A connection whose last command was interrupted (timeout, cancellation,
    server gone) may still be busy or mid-transaction; the pool must not hand
    it out again, so it is terminated when a clean ROLLBACK is not possible.
    """
    try:
        if conn.is_closed():
            return
        await asyncio.wait_for(conn.execute("ROLLBACK"), 2.0)
    except asyncio.CancelledError:
        _terminate(conn)
        raise
    except Exception:  # the original error is the one worth reporting
        _terminate(conn)


def _terminate(conn: asyncpg.Connection) -> None:
    # The pool may already have detached a connection it saw die.
    with contextlib.suppress(asyncpg.InterfaceError):
        conn.terminate()


class PgDatabase:
    """The pool of one storage plus its lock keys."""

    def __init__(
        self,
        dsn: str,
        names: PgNames,
        *,
        pool_min_size: int,
        pool_max_size: int,
        connect_timeout: float,
        command_timeout: float,
        server_settings: dict[str, str],
    ) -> None:
        self.dsn = dsn
        self.names = names
        self.pool_min_size = pool_min_size
        self.pool_max_size = pool_max_size
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.server_settings = server_settings
        self.write_key = advisory_key(f"table:{names.base}")
        # The search indexer takes only this one, so batches never wait for it;
        # retention takes both, so it never deletes rows the indexer is copying.
        self.index_key = advisory_key(f"index:{names.base}")
        self.pool: asyncpg.Pool | None = None
        self.last_write_error: str | None = None

    async def connect(self) -> None:
        """Create the pool; fails fast (connect timeout) when the server is unreachable."""
        try:
            pool = asyncpg.create_pool(
                self.dsn,
                min_size=self.pool_min_size,
                max_size=self.pool_max_size,
                timeout=self.connect_timeout,
                command_timeout=self.command_timeout,
                server_settings=self.server_settings,
            )
            # asyncpg's timeout covers one connect attempt; bound the whole start too.
            self.pool = await asyncio.wait_for(pool, self.connect_timeout * 2 + 1)
        except PG_ERRORS as exc:
            raise storage_error(exc) from exc
        except ValueError as exc:  # malformed DSN
            raise StorageError(f"PostgreSQL: invalid DSN ({short_error(exc)})") from exc

    async def close(self) -> None:
        """Close the pool (terminating it if closing hangs); safe to call twice."""
        pool, self.pool = self.pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), self.command_timeout)
        except BaseException as exc:
            # A hung or broken close must not keep sockets open (nor block shutdown).
            pool.terminate()
            if not isinstance(exc, PG_ERRORS):
                raise

    def _pool(self) -> asyncpg.Pool:
        if self.pool is None:
            raise StorageError("PostgreSQL: storage is not open")
        return self.pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; driver errors inside become StorageError."""
        pool = self._pool()
        try:
            async with pool.acquire(timeout=self.connect_timeout) as conn:
                yield conn
        except PG_ERRORS as exc:
            raise storage_error(exc) from exc

    @asynccontextmanager
    async def write(self, *lock_keys: int, records_outcome: bool = False) -> AsyncIterator[PgTx]:
        """A transaction holding the write lock of this table (or the given locks).

        BEGIN and the locks travel in one round trip, and statements the body
        deferred travel with COMMIT: a batch costs three round trips, not five.
        Locks are taken in the order given; callers keep one order (table lock
        before index lock) so two transactions never wait on each other in a cycle.
        ``records_outcome`` (entry writes only) keeps the outcome in
        ``last_write_error`` for the storage panel. A failure once COMMIT was
        sent raises ``CommitUncertain``.
        """
        keys = lock_keys or (self.write_key,)
        locks = "; ".join(f"SELECT pg_advisory_xact_lock({int(key)})" for key in keys)
        sent = answered = False  # COMMIT sent / its answer received
        try:
            async with self.connection() as conn:
                try:
                    # READ COMMITTED whatever the server default: statements after
                    # the lock must see everything committed before it was granted.
                    await conn.execute(f"BEGIN ISOLATION LEVEL READ COMMITTED; {locks}")
                    tx = PgTx(conn, self.names, self.command_timeout)
                    yield tx
                    sent = True
                    await conn.execute("; ".join([*tx.deferred, "COMMIT"]))
                    answered = True
                except BaseException:
                    await _abandon(conn)
                    raise
        except StorageError as exc:
            # Once COMMIT answered, only the pool's reset of the connection on
            # release can fail: the transaction stands, so the write succeeded.
            if not answered:
                if records_outcome:
                    self.last_write_error = str(exc)
                if sent:
                    raise CommitUncertain(str(exc)) from exc
                raise
        if records_outcome:
            self.last_write_error = None

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query on a pooled connection; plain tuples back."""
        async with self.connection() as conn:
            rows = await conn.fetch(sql, *params)
        return [tuple(row) for row in rows]

    async def fetch_value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """First column of the first row, or None."""
        rows = await self.fetch_all(sql, params)
        return rows[0][0] if rows else None

    def pool_stats(self) -> dict[str, str]:
        """Pool size, connections in use and idle."""
        pool = self.pool
        if pool is None:
            return {"pool": "closed"}
        size, idle = pool.get_size(), pool.get_idle_size()
        return {
            "pool_size": str(size),
            "pool_in_use": str(size - idle),
            "pool_idle": str(idle),
            "pool_min_max": f"{pool.get_min_size()}..{pool.get_max_size()}",
        }
