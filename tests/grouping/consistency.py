"""Recompute what the issue tables must hold from the entries that exist, and compare."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi_flare.grouping.model import epoch_hour
from fastapi_flare.grouping.sql import IssueTables
from fastapi_flare.storage import postgres_issues, sqlite_issues
from fastapi_flare.storage.base import Storage


@dataclass
class IssueFacts:
    """Counters of one issue, as stored or as recomputed."""

    count: int = 0
    ips: Counter[str] = field(default_factory=Counter)
    hours: Counter[int] = field(default_factory=Counter)
    first: Any = None
    last: Any = None
    latest_id: int = 0  # the entry with the newest timestamp (highest id among equals)
    ip_count: int = 0


def tables_of(storage: Storage) -> IssueTables:
    """The issue table names of a storage."""
    if storage.backend_name == "postgresql":
        return postgres_issues.tables(storage.names)  # type: ignore[attr-defined]
    return sqlite_issues.TABLES


def _hour(ts: Any) -> int:
    return epoch_hour(ts) if isinstance(ts, datetime) else int(ts) // 3_600_000_000


async def expected(storage: Storage) -> dict[str, IssueFacts]:
    """Issue counters recomputed from every stored entry (what the tables must say)."""
    t = tables_of(storage)
    rows = await storage.fetch_all(  # type: ignore[attr-defined]
        f"SELECT id, ts, fingerprint, ip_address FROM {t.logs} WHERE fingerprint IS NOT NULL"
    )
    facts: dict[str, IssueFacts] = {}
    for row_id, ts, fingerprint, ip in rows:
        issue = facts.setdefault(fingerprint, IssueFacts(first=ts, last=ts))
        issue.count += 1
        if ip is not None:
            issue.ips[ip] += 1
        issue.hours[_hour(ts)] += 1
        issue.first = min(issue.first, ts)
        if (ts, int(row_id)) >= (issue.last, issue.latest_id):
            issue.last, issue.latest_id = ts, int(row_id)
    for issue in facts.values():
        issue.ip_count = len(issue.ips)
    return facts


async def stored(storage: Storage) -> dict[str, IssueFacts]:
    """Issue counters as the issue tables hold them."""
    t = tables_of(storage)
    fetch = storage.fetch_all  # type: ignore[attr-defined]
    facts: dict[str, IssueFacts] = {}
    for fp, n, ip_count, first, last, latest in await fetch(
        f"SELECT fingerprint, occurrences, ip_count, first_seen, last_seen, latest_entry_id "
        f"FROM {t.issues}"
    ):
        facts[fp] = IssueFacts(
            int(n), Counter(), Counter(), first, last, int(latest), int(ip_count)
        )
    for fp, ip, n in await fetch(f"SELECT fingerprint, ip, n FROM {t.ips}"):
        facts.setdefault(fp, IssueFacts()).ips[ip] = int(n)
    for fp, hour, n in await fetch(f"SELECT fingerprint, hour, n FROM {t.hours}"):
        facts.setdefault(fp, IssueFacts()).hours[int(hour)] = int(n)
    return facts


async def assert_consistent(storage: Storage) -> dict[str, IssueFacts]:
    """Fail unless the issue tables describe exactly the stored entries; returns them."""
    want, have = await expected(storage), await stored(storage)
    assert sorted(have) == sorted(want), "issues without entries, or entries without issue"
    for facts in have.values():  # emptied counter rows must be gone, not left at zero
        assert all(n > 0 for n in [*facts.ips.values(), *facts.hours.values()])
    for fingerprint, facts in want.items():
        assert have[fingerprint] == facts, fingerprint
    return have
