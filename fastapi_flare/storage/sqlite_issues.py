"""SQLite tables of error grouping: issues, their hourly and per-IP counters.

* ``flare_issues``: one row per fingerprint, counters kept at write time.
* ``flare_issue_hours`` / ``flare_issue_ips``: occurrences per hour (sparkline)
  and per client IP (distinct IPs), kept exact so retention can take them back.
* ``flare_settings``: small shared values (the dashboard's CSRF secret).

``save_logs`` adds each batch in its own transaction (``on_logs_saved``); a
trigger subtracts every deleted entry in the deleting transaction, whoever
deletes it (retention or a person), so counters never drift and an issue
disappears with its last entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fastapi_flare.grouping.batch import deltas_for, hour_rows, ip_rows, keyed
from fastapi_flare.grouping.sql import (
    CULPRIT_SQL,
    INSERT_COLUMNS,
    TITLE_SQL,
    IssueTables,
    add_counter_sql,
)
from fastapi_flare.grouping.sql import upsert_issue_tail as upsert_tail
from fastapi_flare.schema import PruneResult
from fastapi_flare.storage._common import from_micros, to_micros
from fastapi_flare.storage.extensions import PruneContext, SavedLog, StorageExtension, WriteTx

if TYPE_CHECKING:
    from fastapi_flare.grouping.store import IssueDatabase, IssueStore

LOGS = "flare_logs"
TABLES = IssueTables(
    logs=LOGS,
    issues="flare_issues",
    hours="flare_issue_hours",
    ips="flare_issue_ips",
    settings="flare_settings",
)
BACKFILL_KEY = "issues_backfilled"
IPS_PER_STATEMENT = 500  # rows per multi-row upsert: 1,500 parameters
_I, _H, _P, _S = TABLES.issues, TABLES.hours, TABLES.ips, TABLES.settings
_HOUR = "ts / 3600000000"

DDL: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS {_I} (
        fingerprint TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        culprit TEXT NOT NULL,
        event TEXT NOT NULL,
        level TEXT NOT NULL,
        occurrences INTEGER NOT NULL,
        ip_count INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        latest_entry_id INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'open',
        regression INTEGER NOT NULL DEFAULT 0,
        resolved_at INTEGER,
        ignored_until INTEGER,
        ignore_remaining INTEGER
    ) WITHOUT ROWID""",
    f"CREATE INDEX IF NOT EXISTS {_I}_status_last ON {_I}(status, last_seen)",
    f"CREATE INDEX IF NOT EXISTS {_I}_last ON {_I}(last_seen)",
    f"""CREATE TABLE IF NOT EXISTS {_H} (
        fingerprint TEXT NOT NULL, hour INTEGER NOT NULL, n INTEGER NOT NULL,
        PRIMARY KEY (fingerprint, hour)
    ) WITHOUT ROWID""",
    f"""CREATE TABLE IF NOT EXISTS {_P} (
        fingerprint TEXT NOT NULL, ip TEXT NOT NULL, n INTEGER NOT NULL,
        PRIMARY KEY (fingerprint, ip)
    ) WITHOUT ROWID""",
    f"CREATE TABLE IF NOT EXISTS {_S} (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    # first/last seen of an issue after retention: one index seek, not a scan of its entries.
    f"CREATE INDEX IF NOT EXISTS {LOGS}_fingerprint_ts ON {LOGS}(fingerprint, ts) "
    "WHERE fingerprint IS NOT NULL",
    f"""CREATE TRIGGER IF NOT EXISTS {_I}_forget AFTER DELETE ON {LOGS}
    WHEN old.fingerprint IS NOT NULL
    BEGIN
        UPDATE {_P} SET n = n - 1 WHERE fingerprint = old.fingerprint AND ip = old.ip_address;
        DELETE FROM {_P} WHERE fingerprint = old.fingerprint AND ip = old.ip_address AND n <= 0;
        UPDATE {_H} SET n = n - 1 WHERE fingerprint = old.fingerprint AND hour = old.{_HOUR};
        DELETE FROM {_H} WHERE fingerprint = old.fingerprint AND hour = old.{_HOUR} AND n <= 0;
        UPDATE {_I} SET
            occurrences = occurrences - 1,
            ip_count = max(ip_count - (old.ip_address IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM {_P} WHERE fingerprint = old.fingerprint AND ip = old.ip_address
            )), 0)
        WHERE fingerprint = old.fingerprint;
        DELETE FROM {_I} WHERE fingerprint = old.fingerprint AND occurrences <= 0;
        UPDATE {_I} SET
            first_seen = CASE WHEN old.ts <= first_seen THEN coalesce((SELECT min(ts)
                FROM {LOGS} WHERE fingerprint = old.fingerprint), first_seen) ELSE first_seen END,
            last_seen = CASE WHEN old.ts >= last_seen THEN coalesce((SELECT max(ts)
                FROM {LOGS} WHERE fingerprint = old.fingerprint), last_seen) ELSE last_seen END,
            latest_entry_id = CASE WHEN old.id = latest_entry_id THEN coalesce((SELECT id
                FROM {LOGS} WHERE fingerprint = old.fingerprint ORDER BY ts DESC, id DESC
                LIMIT 1), latest_entry_id) ELSE latest_entry_id END
        WHERE fingerprint = old.fingerprint
            AND (old.ts <= first_seen OR old.ts >= last_seen OR old.id = latest_entry_id);
    END""",
)

SET_FINGERPRINT = f"UPDATE {LOGS} SET fingerprint = ? WHERE id = ?"
ADD_HOUR = (
    f"INSERT INTO {_H} AS t (fingerprint, hour, n) VALUES (?, ?, ?) {add_counter_sql('hour')}"
)
UPSERT_ISSUE = (
    f"INSERT INTO {_I} AS i ({', '.join(INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in INSERT_COLUMNS)}) {upsert_tail('sqlite')}"
)

# Issues for entries that were stored before the issue tables existed.
BACKFILL: tuple[str, ...] = (
    f"""INSERT INTO {_P} (fingerprint, ip, n) SELECT * FROM (
        SELECT fingerprint, ip_address, count(*) FROM {LOGS}
        WHERE fingerprint IS NOT NULL AND ip_address IS NOT NULL AND id < ?1
        GROUP BY fingerprint, ip_address) WHERE true ON CONFLICT DO NOTHING""",
    f"""INSERT INTO {_H} (fingerprint, hour, n) SELECT * FROM (
        SELECT fingerprint, {_HOUR}, count(*) FROM {LOGS}
        WHERE fingerprint IS NOT NULL AND id < ?1 GROUP BY 1, 2)
        WHERE true ON CONFLICT DO NOTHING""",
    f"""INSERT INTO {_I} ({", ".join(INSERT_COLUMNS)}) SELECT * FROM (
        SELECT g.fingerprint, substr({TITLE_SQL}, 1, 300), {CULPRIT_SQL},
            l.event, l.level, g.n,
            (SELECT count(*) FROM {_P} AS p WHERE p.fingerprint = g.fingerprint),
            g.lo, g.hi, l.id
        FROM (SELECT fingerprint, count(*) AS n, min(ts) AS lo, max(ts) AS hi
              FROM {LOGS} WHERE fingerprint IS NOT NULL AND id < ?1 GROUP BY fingerprint) AS g
        JOIN {LOGS} AS l ON l.id = (SELECT id FROM {LOGS} WHERE fingerprint = g.fingerprint
            AND id < ?1 ORDER BY ts DESC, id DESC LIMIT 1)) WHERE true ON CONFLICT DO NOTHING""",
    f"INSERT INTO {_S} (key, value) VALUES ('{BACKFILL_KEY}', '1') ON CONFLICT DO NOTHING",
)


async def backfill_once(tx: WriteTx, below_id: int) -> None:
    """Build issues from entries older than ``below_id`` when the tables are new."""
    done = await tx.fetch_all(f"SELECT 1 FROM {_S} WHERE key = ?", (BACKFILL_KEY,))
    if not done:
        for statement in BACKFILL:
            await tx.execute(statement, (below_id,) if "?1" in statement else ())


async def add_ips(tx: WriteTx, rows: list[tuple[str, str, int]]) -> dict[str, int]:
    """Count IPs per issue; returns how many IPs each issue sees for the first time.

    One multi-row upsert per chunk: a row whose count equals what this batch adds
    was just created (counter rows at zero are deleted, never kept).
    """
    new_ips: dict[str, int] = {}
    for start in range(0, len(rows), IPS_PER_STATEMENT):
        chunk = rows[start : start + IPS_PER_STATEMENT]
        added = {(fp, ip): n for fp, ip, n in chunk}
        returned = await tx.fetch_all(
            f"INSERT INTO {_P} AS t (fingerprint, ip, n) VALUES "
            + ", ".join("(?, ?, ?)" for _ in chunk)
            + f" {add_counter_sql('ip')} RETURNING fingerprint, ip, n",
            [value for row in chunk for value in row],
        )
        for fingerprint, ip, n in returned:
            if n == added[(fingerprint, ip)]:
                new_ips[fingerprint] = new_ips.get(fingerprint, 0) + 1
    return new_ips


class SqliteIssueHooks:
    """The write-time hook; remembers per process that the backfill check was done."""

    def __init__(self) -> None:
        self._checked = False

    async def _backfill_once(self, tx: WriteTx, below_id: int) -> None:
        if not self._checked:
            await backfill_once(tx, below_id)
            self._checked = True

    async def on_prune(self, tx: WriteTx, ctx: PruneContext) -> PruneResult:
        """Nothing to prune (a trigger follows deletes); builds issues for older files once."""
        await self._backfill_once(tx, 2**63 - 1)
        return PruneResult()

    async def on_logs_saved(self, tx: WriteTx, saved: Sequence[SavedLog]) -> None:
        """Add a just-inserted batch to its issues, inside the batch's transaction."""
        if not saved:
            return
        rows = keyed(saved)
        await self._backfill_once(tx, min(row_id for row_id, _, _ in rows))
        missing = [(fp, row_id) for row_id, fp, entry in rows if not entry.fingerprint]
        if missing:  # entries written without one keep the fingerprint their issue uses
            await tx.executemany(SET_FINGERPRINT, missing)
        deltas = deltas_for(rows)
        ips = ip_rows(deltas)
        new_ips = await add_ips(tx, ips) if ips else {}
        await tx.executemany(ADD_HOUR, hour_rows(deltas))
        await tx.executemany(
            UPSERT_ISSUE,
            [
                (
                    d.fingerprint,
                    d.title,
                    d.culprit,
                    d.event,
                    d.level,
                    d.count,
                    new_ips.get(d.fingerprint, 0),
                    to_micros(d.first_seen),
                    to_micros(d.last_seen),
                    d.latest_id,
                )
                for d in deltas
            ],
        )


def extension() -> StorageExtension:
    """The issue tables and hooks, for ``SqliteStorage.add_extension``."""
    hooks = SqliteIssueHooks()
    return StorageExtension(
        name="issues", sqlite_ddl=DDL, on_logs_saved=hooks.on_logs_saved, on_prune=hooks.on_prune
    )


def issue_store(db: IssueDatabase) -> IssueStore:
    """The issue reader/changer for a SQLite storage."""
    from fastapi_flare.grouping.store import IssueStore

    return IssueStore(db, TABLES, "sqlite", to_micros, from_micros)
