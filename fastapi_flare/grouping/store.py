"""Read and change issues through a storage's helpers (SQLite and PostgreSQL alike).

Reads touch only the issue tables: the list is one indexed query on
``issues`` plus the sparkline rows of the issues on the page, never a scan
of the entries.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from fastapi_flare.grouping.model import (
    SPARKLINE_HOURS,
    Issue,
    IssueChange,
    IssuePage,
    IssueQuery,
    epoch_hour,
    hourly_series,
)
from fastapi_flare.grouping.sql import (
    READ_COLUMNS,
    SORT_SQL,
    IssueTables,
    list_conditions,
    status_condition,
    where,
)
from fastapi_flare.schema import IssueStatus, StorageError
from fastapi_flare.storage._common import clean_text, level_or_none
from fastapi_flare.storage._sql import Params
from fastapi_flare.storage.extensions import Dialect, StorageExtension, WriteTx

# Fingerprints per IN (...) list: far below both drivers' parameter limits.
CHUNK = 500
MAX_OFFSET = 1_000_000


@runtime_checkable
class IssueDatabase(Protocol):
    """The storage helpers the issue tables need (both built-in backends have them)."""

    backend_name: str

    def add_extension(self, extension: StorageExtension) -> None:
        """Register extra tables and hooks before ``open()``."""

    def write_transaction(self) -> AbstractAsyncContextManager[WriteTx]:
        """One write transaction."""
        ...

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read query; plain tuples back."""
        ...


def effective_status(status: str, ignored_until: datetime | None, now: datetime) -> IssueStatus:
    """The status a user sees: an ignore whose date has passed is over."""
    if status == "ignored":
        return "open" if ignored_until is not None and ignored_until <= now else "ignored"
    return "resolved" if status == "resolved" else "open"


class IssueStore:
    """Issue reads and state changes; every failure is a ``StorageError``."""

    def __init__(
        self,
        db: IssueDatabase,
        tables: IssueTables,
        dialect: Dialect,
        to_db: Callable[[datetime], Any],
        from_db: Callable[[Any], datetime],
    ) -> None:
        self.db = db
        self.tables = tables
        self.dialect = dialect
        self.to_db = to_db
        self.from_db = from_db

    def _time(self, value: Any) -> datetime | None:
        return None if value is None else self.from_db(value)

    def _issue(self, row: Sequence[Any], now: datetime) -> Issue:
        ignored_until = self._time(row[13])
        return Issue(
            fingerprint=str(row[0]),
            title=str(row[1]),
            culprit=str(row[2]),
            event=str(row[3]),
            level=level_or_none(row[4]) or "ERROR",
            count=int(row[5]),
            distinct_ips=int(row[6]),
            first_seen=self.from_db(row[7]),
            last_seen=self.from_db(row[8]),
            latest_entry_id=str(row[9]),
            status=effective_status(str(row[10]), ignored_until, now),
            regression=bool(row[11]),
            resolved_at=self._time(row[12]),
            ignored_until=ignored_until,
            ignore_remaining=None if row[14] is None else int(row[14]),
        )

    async def list_issues(self, query: IssueQuery, now: datetime) -> IssuePage:
        """One page of issues matching ``query``, with their sparklines."""
        limit = max(1, min(query.limit, 500))
        offset = max(0, min(query.offset, MAX_OFFSET))
        p = Params(self.dialect)
        conds = where(list_conditions(query, p, self.to_db(now), self.dialect))
        sql = (
            f"SELECT {', '.join(READ_COLUMNS)} FROM {self.tables.issues}{conds} "
            f"ORDER BY {SORT_SQL[query.sort]} LIMIT {p(limit)} OFFSET {p(offset)}"
        )
        rows = await self.db.fetch_all(sql, p.values)
        count_p = Params(self.dialect)
        count_conds = where(list_conditions(query, count_p, self.to_db(now), self.dialect))
        total = await self.db.fetch_all(
            f"SELECT count(*) FROM {self.tables.issues}{count_conds}", count_p.values
        )
        items = [self._issue(row, now) for row in rows]
        await self._fill_hourly(items, now)
        return IssuePage(items=items, total=int(total[0][0]), offset=offset, limit=limit)

    async def get_issue(self, fingerprint: str, now: datetime) -> Issue | None:
        """One issue with its sparkline, or None."""
        p = Params(self.dialect)
        rows = await self.db.fetch_all(
            f"SELECT {', '.join(READ_COLUMNS)} FROM {self.tables.issues} "
            f"WHERE fingerprint = {p(clean_text(fingerprint))}",
            p.values,
        )
        if not rows:
            return None
        issue = self._issue(rows[0], now)
        await self._fill_hourly([issue], now)
        return issue

    async def _fill_hourly(self, issues: list[Issue], now: datetime) -> None:
        if not issues:
            return
        p = Params(self.dialect)
        keys = ", ".join(p(issue.fingerprint) for issue in issues)
        since = p(epoch_hour(now) - SPARKLINE_HOURS + 1)
        rows = await self.db.fetch_all(
            f"SELECT fingerprint, hour, n FROM {self.tables.hours} "
            f"WHERE fingerprint IN ({keys}) AND hour >= {since}",
            p.values,
        )
        hours: dict[str, dict[int, int]] = {}
        for fingerprint, hour, n in rows:
            hours.setdefault(str(fingerprint), {})[int(hour)] = int(n)
        for issue in issues:
            issue.hourly = hourly_series(hours.get(issue.fingerprint, {}), now)

    async def status_counts(self, now: datetime) -> dict[IssueStatus, int]:
        """How many issues each status tab holds."""
        p = Params(self.dialect)
        moment = self.to_db(now)
        cases = ", ".join(
            f"coalesce(sum(CASE WHEN {status_condition(s, p, moment)} THEN 1 ELSE 0 END), 0)"
            for s in ("open", "resolved", "ignored")
        )
        rows = await self.db.fetch_all(f"SELECT {cases} FROM {self.tables.issues}", p.values)
        open_, resolved, ignored = (int(value) for value in rows[0])
        return {"open": open_, "resolved": resolved, "ignored": ignored}

    async def apply(self, fingerprints: Sequence[str], change: IssueChange, now: datetime) -> int:
        """Resolve, ignore or reopen these issues; returns how many exist and changed."""
        changed = 0
        unique = sorted({clean_text(key) for key in fingerprints})  # one lock order for all
        async with self.db.write_transaction() as tx:
            for start in range(0, len(unique), CHUNK):
                p = Params(self.dialect)
                assignments = self._assignments(change, p, now)
                keys = ", ".join(p(key) for key in unique[start : start + CHUNK])
                rows = await tx.fetch_all(
                    f"UPDATE {self.tables.issues} SET {assignments} "
                    f"WHERE fingerprint IN ({keys}) RETURNING fingerprint",
                    p.values,
                )
                changed += len(rows)
        return changed

    def _assignments(self, change: IssueChange, p: Params, now: datetime) -> str:
        if change.action == "resolve":
            return (
                f"status = 'resolved', resolved_at = {p(self.to_db(now))}, regression = FALSE, "
                "ignored_until = NULL, ignore_remaining = NULL"
            )
        if change.action == "ignore":
            until = None if change.ignore_until is None else self.to_db(change.ignore_until)
            return (
                f"status = 'ignored', regression = FALSE, ignored_until = {p(until)}, "
                f"ignore_remaining = {p(change.ignore_count)}"
            )
        return (
            "status = 'open', regression = FALSE, resolved_at = NULL, "
            "ignored_until = NULL, ignore_remaining = NULL"
        )

    async def secret(self, name: str) -> bytes:
        """A random 32-byte secret shared by every process on this database."""
        first = "?" if self.dialect == "sqlite" else "$1"
        select = f"SELECT value FROM {self.tables.settings} WHERE key = {first}"
        rows = await self.db.fetch_all(select, (name,))
        if not rows:
            p = Params(self.dialect)
            async with self.db.write_transaction() as tx:
                await tx.execute(
                    f"INSERT INTO {self.tables.settings} (key, value) "
                    f"VALUES ({p(name)}, {p(secrets.token_hex(32))}) ON CONFLICT (key) DO NOTHING",
                    p.values,
                )
                rows = await tx.fetch_all(select, (name,))
        try:
            return bytes.fromhex(str(rows[0][0]))
        except (IndexError, ValueError) as exc:
            raise StorageError(f"setting {name!r} is unreadable") from exc
