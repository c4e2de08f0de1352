"""SQLite schema: tables, indexes, counters and the optional trigram search index.

Layout (all ``CREATE ... IF NOT EXISTS``, run in one ``BEGIN IMMEDIATE``
transaction so processes opening a fresh file at once simply queue up):

* ``flare_logs`` / ``flare_requests``: one row per entry; ``ts`` is integer
  microseconds since the Unix epoch (UTC); JSON columns are text.
  ``AUTOINCREMENT`` so ids are never reused: keyset cursors and the search
  index both rely on ids only ever growing.
* ``flare_counts``: per-hour row counts per series (``log:ERROR``,
  ``log:WARNING``, ``req``), kept exact at write and prune time, so the stats
  cards and row counts never count a million rows.
* ``flare_meta``: small integers, e.g. how far the search index has got.
* ``flare_logs_fts`` / ``flare_requests_fts``: FTS5 trigram indexes (substring
  search) over the content tables, filled behind the writer (see sqlite_search).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from fastapi_flare.storage._sql import LOG_SEARCH_COLUMNS, REQUEST_SEARCH_COLUMNS
from fastapi_flare.storage.extensions import StorageExtension
from fastapi_flare.storage.sqlite_db import SqliteTx

LOGS = "flare_logs"
REQUESTS = "flare_requests"
COUNTS = "flare_counts"
META = "flare_meta"

BASE_DDL: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS {LOGS} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts INTEGER NOT NULL,
        level TEXT NOT NULL,
        event TEXT NOT NULL,
        message TEXT NOT NULL,
        request_id TEXT,
        endpoint TEXT,
        route TEXT,
        http_method TEXT,
        http_status INTEGER,
        ip_address TEXT,
        user_agent TEXT,
        duration_ms INTEGER,
        error TEXT,
        fingerprint TEXT,
        stack_trace TEXT,
        context TEXT,
        request_body TEXT
    )""",
    # (filter, id) pairs: a filtered page is one index range read newest first.
    f"CREATE INDEX IF NOT EXISTS {LOGS}_level_id ON {LOGS}(level, id)",
    f"CREATE INDEX IF NOT EXISTS {LOGS}_event_id ON {LOGS}(event, id)",
    f"CREATE INDEX IF NOT EXISTS {LOGS}_ts ON {LOGS}(ts)",
    # Partial: costs nothing on write while a column is unused (NULL).
    f"CREATE INDEX IF NOT EXISTS {LOGS}_fingerprint_id ON {LOGS}(fingerprint, id) "
    "WHERE fingerprint IS NOT NULL",
    f"CREATE INDEX IF NOT EXISTS {LOGS}_route_id ON {LOGS}(route, id) WHERE route IS NOT NULL",
    f"""CREATE TABLE IF NOT EXISTS {REQUESTS} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts INTEGER NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        route TEXT,
        status INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        request_id TEXT,
        ip_address TEXT,
        user_agent TEXT,
        headers TEXT
    )""",
    f"CREATE INDEX IF NOT EXISTS {REQUESTS}_method_id ON {REQUESTS}(method, id)",
    f"CREATE INDEX IF NOT EXISTS {REQUESTS}_status_class_id ON {REQUESTS}((status / 100), id)",
    f"""CREATE TABLE IF NOT EXISTS {META} (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID""",
)

COUNTS_DDL = f"""CREATE TABLE IF NOT EXISTS {COUNTS} (
    series TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (series, bucket)
) WITHOUT ROWID"""

# Recount from the data when the counters table is new (a file from an older version).
RECOUNT_DML: tuple[str, ...] = (
    f"INSERT INTO {COUNTS}(series, bucket, n) "
    f"SELECT 'log:' || level, ts / 3600000000, count(*) FROM {LOGS} GROUP BY 1, 2",
    f"INSERT INTO {COUNTS}(series, bucket, n) "
    f"SELECT 'req', ts / 3600000000, count(*) FROM {REQUESTS} GROUP BY 2",
)


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """A content table, its FTS5 trigram index and the meta key of indexing progress."""

    table: str
    fts: str
    columns: tuple[str, ...]

    @property
    def meta_key(self) -> str:
        """``flare_meta`` key holding the highest id already in the index."""
        return f"search_upto:{self.table}"

    def ddl(self) -> tuple[str, ...]:
        """The FTS table and the trigger that keeps deletes in step.

        Only rows the indexer has reached (id <= upto) are in the index, so
        only those are removed from it; FTS5 requires exactly that.
        """
        cols = ", ".join(self.columns)
        old = ", ".join(f"old.{c}" for c in self.columns)
        return (
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {self.fts} USING fts5("
            f"{cols}, content='{self.table}', content_rowid='id', tokenize='trigram')",
            f"""CREATE TRIGGER IF NOT EXISTS {self.fts}_delete AFTER DELETE ON {self.table}
            WHEN old.id <= (SELECT value FROM {META} WHERE key = '{self.meta_key}')
            BEGIN
                INSERT INTO {self.fts}({self.fts}, rowid, {cols}) VALUES ('delete', old.id, {old});
            END""",
            f"INSERT OR IGNORE INTO {META}(key, value) VALUES ('{self.meta_key}', 0)",
        )


LOG_SEARCH = SearchSpec(LOGS, f"{LOGS}_fts", LOG_SEARCH_COLUMNS)
REQUEST_SEARCH = SearchSpec(REQUESTS, f"{REQUESTS}_fts", REQUEST_SEARCH_COLUMNS)


def trigram_available() -> bool:
    """True when this SQLite build has FTS5 with the trigram tokenizer (3.34+)."""
    try:
        conn = sqlite3.connect(":memory:")
    except sqlite3.Error:
        return False
    try:
        conn.execute("CREATE VIRTUAL TABLE probe USING fts5(a, tokenize='trigram')")
        return True
    except sqlite3.Error:
        return False
    finally:
        conn.close()


async def table_exists(tx: SqliteTx, name: str) -> bool:
    """True when a table (or virtual table) named ``name`` exists."""
    rows = await tx.fetch_all("SELECT 1 FROM sqlite_master WHERE name = ?", (name,))
    return bool(rows)


async def create_schema(
    tx: SqliteTx, *, search: bool, extensions: tuple[StorageExtension, ...]
) -> bool:
    """Create everything idempotently; returns whether the search index is in use."""
    for statement in BASE_DDL:
        await tx.execute(statement)
    if not await table_exists(tx, COUNTS):
        await tx.execute(COUNTS_DDL)
        for statement in RECOUNT_DML:
            await tx.execute(statement)
    # Another process (with FTS5) may have created the index even if we can't
    # use it; its triggers would then fail our deletes, so we must use it too.
    search = search or await table_exists(tx, LOG_SEARCH.fts)
    if search:
        for spec in (LOG_SEARCH, REQUEST_SEARCH):
            for statement in spec.ddl():
                await tx.execute(statement)
    for extension in extensions:
        for statement in extension.sqlite_ddl:
            await tx.execute(statement)
    return search
