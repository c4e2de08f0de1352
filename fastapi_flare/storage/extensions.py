"""Extension points for features that keep their own tables next to the logs.

This is the one place where extra schema is registered. A feature module
(error grouping, metrics rollups, ...) builds a ``StorageExtension`` and hands it
to the backend before ``open()``::

    storage.add_extension(StorageExtension(
        name="issues",
        sqlite_ddl=("CREATE TABLE IF NOT EXISTS flare_issues (...)",),
        postgres_ddl=lambda names: (f"CREATE TABLE IF NOT EXISTS {names.table('issues')} (...)",),
        on_logs_saved=update_issue_counters,     # runs inside save_logs' transaction
        on_prune=prune_issues,                   # runs inside its own write transaction
    ))

The backend then

* runs the extension's DDL inside the same locked schema transaction as its own
  (so it is idempotent and safe when many processes start at once);
* calls ``on_logs_saved(tx, saved)`` inside every ``save_logs`` transaction, with
  the stored row ids, so counters stay exact (denormalised at write time);
* calls ``on_prune(tx, ctx)`` from ``prune()`` and adds the returned counts.

Outside those hooks, a feature reads with ``storage.fetch_all(sql, params)`` and
writes with ``async with storage.write_transaction() as tx``. Both backends
expose the same ``WriteTx`` shape; SQL differs by ``tx.dialect`` (``?`` vs ``$1``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from fastapi_flare.schema import FlareLogEntry, PruneResult

Dialect = Literal["sqlite", "postgresql"]
PG_MAX_IDENTIFIER = 63


class WriteTx(Protocol):
    """An open write transaction; commits when the ``async with`` block exits cleanly."""

    @property
    def dialect(self) -> Dialect:
        """``"sqlite"`` or ``"postgresql"``: which SQL (and placeholders) to write."""
        ...

    @property
    def logs_table(self) -> str:
        """Quoted name of this storage's log entries table."""
        ...

    def table(self, suffix: str) -> str:
        """Quoted name of a feature table that belongs to this storage (``issues``...)."""
        ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement."""

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters."""

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query and return plain tuples."""
        ...


@dataclass(frozen=True, slots=True)
class SavedLog:
    """A log entry as just stored, with its row id."""

    id: int
    entry: FlareLogEntry


@dataclass(frozen=True, slots=True)
class PruneContext:
    """The arguments of the retention pass that triggered a prune hook."""

    older_than: datetime
    max_entries: int
    max_requests: int


@dataclass(frozen=True, slots=True)
class PgNames:
    """Derives PostgreSQL identifiers from the configured base table name.

    Names longer than 63 characters would be silently truncated by the server
    (and could then collide between projects), so they get a short hash instead.
    """

    base: str

    def raw(self, suffix: str = "") -> str:
        """Unquoted identifier ``{base}_{suffix}`` (or ``base`` itself)."""
        name = f"{self.base}_{suffix}" if suffix else self.base
        if len(name) <= PG_MAX_IDENTIFIER:
            return name
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]  # noqa: S324 - naming, not security
        keep = PG_MAX_IDENTIFIER - len(suffix) - len(digest) - 2
        return f"{self.base[:keep]}_{digest}_{suffix}"

    def table(self, suffix: str = "") -> str:
        """Quoted identifier, safe to paste into SQL."""
        return quote_ident(self.raw(suffix))


def quote_ident(name: str) -> str:
    """Double-quote an identifier (names are validated, quoting is belt and braces)."""
    return '"' + name.replace('"', '""') + '"'


LogsSavedHook = Callable[[WriteTx, Sequence[SavedLog]], Awaitable[None]]
PruneHook = Callable[[WriteTx, PruneContext], Awaitable[PruneResult]]


def _no_ddl(names: PgNames) -> Sequence[str]:
    return ()


@dataclass(frozen=True, slots=True)
class StorageExtension:
    """Extra tables and write-time hooks that a feature adds to a backend."""

    name: str
    sqlite_ddl: Sequence[str] = ()
    postgres_ddl: Callable[[PgNames], Sequence[str]] = field(default=_no_ddl)
    on_logs_saved: LogsSavedHook | None = None
    on_prune: PruneHook | None = None


def add_results(total: PruneResult, extra: PruneResult) -> PruneResult:
    """Field-wise sum of two prune results."""
    return PruneResult(
        logs=total.logs + extra.logs,
        requests=total.requests + extra.requests,
        metrics=total.metrics + extra.metrics,
    )
