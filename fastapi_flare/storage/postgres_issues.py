"""PostgreSQL tables of error grouping: ``{table}_issues``, ``_issue_hours``, ``_issue_ips``.

Same design as the SQLite tables (see ``sqlite_issues``): each ``save_logs``
batch is added in its own transaction with set-based upserts; a statement-level
trigger with a transition table subtracts deleted entries in the deleting
transaction; ``{table}_settings`` holds small shared values.
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
from fastapi_flare.storage._common import utc
from fastapi_flare.storage.extensions import (
    PgNames,
    PruneContext,
    SavedLog,
    StorageExtension,
    WriteTx,
)

if TYPE_CHECKING:
    from fastapi_flare.grouping.store import IssueDatabase, IssueStore

BACKFILL_KEY = "issues_backfilled"
_HOUR = "floor(extract(epoch FROM ts) / 3600)::bigint"
# Array types of INSERT_COLUMNS, for the unnest() that feeds the upsert.
_TYPES: tuple[str, ...] = (
    *("text",) * 5,
    *("bigint",) * 2,
    *("timestamptz",) * 2,
    "bigint",
)


def tables(names: PgNames) -> IssueTables:
    """Quoted names of the logs table and the issue tables for a base table name."""
    return IssueTables(
        logs=names.table(),
        issues=names.table("issues"),
        hours=names.table("issue_hours"),
        ips=names.table("issue_ips"),
        settings=names.table("settings"),
    )


def _forget_function(t: IssueTables, fn: str) -> str:
    """The trigger function: subtract the deleted rows (``gone``) from their issues."""
    keyed_rows = "SELECT * FROM gone WHERE fingerprint IS NOT NULL"
    return f"""CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $flare$
BEGIN
    IF NOT EXISTS ({keyed_rows}) THEN RETURN NULL; END IF;
    WITH d AS (SELECT fingerprint, ip_address AS ip, count(*) AS n FROM gone
               WHERE fingerprint IS NOT NULL AND ip_address IS NOT NULL GROUP BY 1, 2)
    UPDATE {t.ips} AS p SET n = p.n - d.n FROM d
    WHERE p.fingerprint = d.fingerprint AND p.ip = d.ip;
    WITH d AS (SELECT fingerprint, {_HOUR} AS hour, count(*) AS n FROM gone
               WHERE fingerprint IS NOT NULL GROUP BY 1, 2)
    UPDATE {t.hours} AS h SET n = h.n - d.n FROM d
    WHERE h.fingerprint = d.fingerprint AND h.hour = d.hour;
    DELETE FROM {t.hours} AS h USING (SELECT DISTINCT fingerprint, {_HOUR} AS hour FROM gone) AS d
    WHERE h.fingerprint = d.fingerprint AND h.hour = d.hour AND h.n <= 0;
    WITH lost AS (
        DELETE FROM {t.ips} AS p USING (SELECT DISTINCT fingerprint, ip_address FROM gone) AS d
        WHERE p.fingerprint = d.fingerprint AND p.ip = d.ip_address AND p.n <= 0
        RETURNING p.fingerprint),
    l AS (SELECT fingerprint, count(*) AS n FROM lost GROUP BY 1),
    d AS (SELECT fingerprint, count(*) AS n FROM gone WHERE fingerprint IS NOT NULL GROUP BY 1)
    UPDATE {t.issues} AS i SET occurrences = i.occurrences - d.n,
        ip_count = GREATEST(i.ip_count - coalesce(l.n, 0), 0)
    FROM d LEFT JOIN l ON l.fingerprint = d.fingerprint WHERE i.fingerprint = d.fingerprint;
    DELETE FROM {t.issues} AS i USING (SELECT DISTINCT fingerprint FROM gone) AS d
    WHERE i.fingerprint = d.fingerprint AND i.occurrences <= 0;
    WITH d AS (SELECT fingerprint, min(ts) AS lo, max(ts) AS hi, array_agg(id) AS ids
               FROM gone WHERE fingerprint IS NOT NULL GROUP BY 1)
    UPDATE {t.issues} AS i SET
        first_seen = CASE WHEN d.lo <= i.first_seen THEN coalesce((SELECT min(x.ts)
            FROM {t.logs} AS x WHERE x.fingerprint = i.fingerprint), i.first_seen)
            ELSE i.first_seen END,
        last_seen = CASE WHEN d.hi >= i.last_seen THEN coalesce((SELECT max(x.ts)
            FROM {t.logs} AS x WHERE x.fingerprint = i.fingerprint), i.last_seen)
            ELSE i.last_seen END,
        latest_entry_id = CASE WHEN i.latest_entry_id = ANY(d.ids) THEN coalesce((SELECT x.id
            FROM {t.logs} AS x WHERE x.fingerprint = i.fingerprint
            ORDER BY x.ts DESC, x.id DESC LIMIT 1), i.latest_entry_id)
            ELSE i.latest_entry_id END
    FROM d WHERE i.fingerprint = d.fingerprint
        AND (d.lo <= i.first_seen OR d.hi >= i.last_seen OR i.latest_entry_id = ANY(d.ids));
    RETURN NULL;
END $flare$"""


def _clear_function(t: IssueTables, fn: str) -> str:
    """TRUNCATE of the logs fires no delete trigger: empty the issue tables with it."""
    return f"""CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $flare$
BEGIN
    DELETE FROM {t.ips}; DELETE FROM {t.hours}; DELETE FROM {t.issues};
    RETURN NULL;
END $flare$"""


def _create_trigger(names: PgNames, suffix: str, clause: str, fn: str) -> str:
    """CREATE TRIGGER unless it exists (works on every supported server version)."""
    trigger = names.raw(suffix)
    transition = "REFERENCING OLD TABLE AS gone " if "DELETE" in clause else ""
    return f"""DO $flare$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '{trigger}'
                   AND tgrelid = to_regclass('{names.table()}')) THEN
        CREATE TRIGGER {names.table(suffix)} {clause} ON {names.table()}
        {transition}FOR EACH STATEMENT
        EXECUTE FUNCTION {fn}();
    END IF;
END $flare$"""


def ddl(names: PgNames) -> list[str]:
    """Tables, indexes, trigger functions and triggers, all idempotent."""
    t = tables(names)
    forget, clear = names.table("issues_forget"), names.table("issues_clear")
    return [
        f"""CREATE TABLE IF NOT EXISTS {t.issues} (
            fingerprint text PRIMARY KEY,
            title text NOT NULL,
            culprit text NOT NULL,
            event text NOT NULL,
            level text NOT NULL,
            occurrences bigint NOT NULL,
            ip_count bigint NOT NULL,
            first_seen timestamptz NOT NULL,
            last_seen timestamptz NOT NULL,
            latest_entry_id bigint NOT NULL,
            status text NOT NULL DEFAULT 'open',
            regression boolean NOT NULL DEFAULT false,
            resolved_at timestamptz,
            ignored_until timestamptz,
            ignore_remaining bigint
        )""",
        f"CREATE INDEX IF NOT EXISTS {names.table('issues_status_last_idx')} "
        f"ON {t.issues} (status, last_seen)",
        f"CREATE INDEX IF NOT EXISTS {names.table('issues_last_idx')} ON {t.issues} (last_seen)",
        f"""CREATE TABLE IF NOT EXISTS {t.hours} (
            fingerprint text NOT NULL, hour bigint NOT NULL, n bigint NOT NULL,
            PRIMARY KEY (fingerprint, hour))""",
        f"""CREATE TABLE IF NOT EXISTS {t.ips} (
            fingerprint text NOT NULL, ip text NOT NULL, n bigint NOT NULL,
            PRIMARY KEY (fingerprint, ip))""",
        f"CREATE TABLE IF NOT EXISTS {t.settings} (key text PRIMARY KEY, value text NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {names.table('fingerprint_ts_idx')} ON {t.logs} "
        "(fingerprint, ts) WHERE fingerprint IS NOT NULL",
        _forget_function(t, forget),
        _clear_function(t, clear),
        _create_trigger(names, "issues_forget_trg", "AFTER DELETE", forget),
        _create_trigger(names, "issues_clear_trg", "AFTER TRUNCATE", clear),
    ]


def _backfill(t: IssueTables) -> tuple[str, ...]:
    return (
        f"""INSERT INTO {t.ips} (fingerprint, ip, n) SELECT fingerprint, ip_address, count(*)
        FROM {t.logs} WHERE fingerprint IS NOT NULL AND ip_address IS NOT NULL AND id < $1
        GROUP BY 1, 2 ON CONFLICT DO NOTHING""",
        f"""INSERT INTO {t.hours} (fingerprint, hour, n) SELECT fingerprint, {_HOUR}, count(*)
        FROM {t.logs} WHERE fingerprint IS NOT NULL AND id < $1 GROUP BY 1, 2
        ON CONFLICT DO NOTHING""",
        f"""INSERT INTO {t.issues} ({", ".join(INSERT_COLUMNS)})
        SELECT g.fingerprint, left({TITLE_SQL}, 300), {CULPRIT_SQL},
            l.event, l.level, g.n,
            (SELECT count(*) FROM {t.ips} AS p WHERE p.fingerprint = g.fingerprint),
            g.lo, g.hi, l.id
        FROM (SELECT fingerprint, count(*) AS n, min(ts) AS lo, max(ts) AS hi
              FROM {t.logs} WHERE fingerprint IS NOT NULL AND id < $1 GROUP BY 1) AS g
        JOIN {t.logs} AS l ON l.id = (SELECT id FROM {t.logs} WHERE fingerprint = g.fingerprint
            AND id < $1 ORDER BY ts DESC, id DESC LIMIT 1) ON CONFLICT DO NOTHING""",
    )


class PgIssueHooks:
    """Write-time hooks of one storage; the backfill check runs once per process."""

    def __init__(self, names: PgNames) -> None:
        self.t = tables(names)
        self._checked = False
        t = self.t
        self.set_fingerprint = (
            f"UPDATE {t.logs} AS l SET fingerprint = d.fp "
            "FROM unnest($1::bigint[], $2::text[]) AS d(id, fp) WHERE l.id = d.id"
        )
        self.add_ips = (
            f"INSERT INTO {t.ips} AS t (fingerprint, ip, n) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) "
            f"{add_counter_sql('ip')} RETURNING t.fingerprint, (t.xmax = 0) AS inserted"
        )
        self.add_hours = (
            f"INSERT INTO {t.hours} AS t (fingerprint, hour, n) "
            "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) "
            f"{add_counter_sql('hour')}"
        )
        arrays = ", ".join(f"${i}::{kind}[]" for i, kind in enumerate(_TYPES, start=1))
        self.upsert = (
            f"INSERT INTO {t.issues} AS i ({', '.join(INSERT_COLUMNS)}) "
            f"SELECT * FROM unnest({arrays}) {upsert_tail('postgresql')}"
        )

    async def _backfill_once(self, tx: WriteTx, below_id: int) -> None:
        if self._checked:
            return
        settings = self.t.settings
        done = await tx.fetch_all(f"SELECT 1 FROM {settings} WHERE key = $1", (BACKFILL_KEY,))
        if not done:
            for statement in _backfill(self.t):
                await tx.execute(statement, (below_id,))
            await tx.execute(
                f"INSERT INTO {settings} (key, value) VALUES ($1, '1') ON CONFLICT DO NOTHING",
                (BACKFILL_KEY,),
            )
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
        missing = [(row_id, fp) for row_id, fp, entry in rows if not entry.fingerprint]
        if missing:
            ids, fps = zip(*missing, strict=True)
            await tx.execute(self.set_fingerprint, (list(ids), list(fps)))
        deltas = deltas_for(rows)
        new_ips: dict[str, int] = {}
        ips = ip_rows(deltas)
        if ips:
            columns = [list(column) for column in zip(*ips, strict=True)]
            for fingerprint, inserted in await tx.fetch_all(self.add_ips, columns):
                if inserted:
                    new_ips[fingerprint] = new_ips.get(fingerprint, 0) + 1
        await tx.execute(self.add_hours, [list(c) for c in zip(*hour_rows(deltas), strict=True)])
        values = [
            (
                d.fingerprint,
                d.title,
                d.culprit,
                d.event,
                d.level,
                d.count,
                new_ips.get(d.fingerprint, 0),
                utc(d.first_seen),
                utc(d.last_seen),
                d.latest_id,
            )
            for d in deltas
        ]
        await tx.execute(self.upsert, [list(c) for c in zip(*values, strict=True)])


def extension(names: PgNames) -> StorageExtension:
    """The issue tables and hooks, for ``PostgresStorage.add_extension``."""
    hooks = PgIssueHooks(names)
    return StorageExtension(
        name="issues", postgres_ddl=ddl, on_logs_saved=hooks.on_logs_saved, on_prune=hooks.on_prune
    )


def issue_store(db: IssueDatabase, names: PgNames) -> IssueStore:
    """The issue reader/changer for a PostgreSQL storage."""
    from fastapi_flare.grouping.store import IssueStore

    return IssueStore(db, tables(names), "postgresql", utc, utc)
