"""SQL shared by the SQLite and PostgreSQL issue tables (both understand these forms).

The backends differ in placeholders (``?`` / ``$n``), timestamps (integer
microseconds / ``timestamptz``) and the names of the two-argument min/max; the
status rules below are written once for both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi_flare.grouping.model import IssueQuery, IssueSort
from fastapi_flare.storage._common import clean_text
from fastapi_flare.storage.extensions import Dialect

# Insert order of the columns a new issue is created with.
INSERT_COLUMNS: tuple[str, ...] = (
    "fingerprint",
    "title",
    "culprit",
    "event",
    "level",
    "occurrences",
    "ip_count",
    "first_seen",
    "last_seen",
    "latest_entry_id",
)
# Read order (``Issue`` is built from these).
READ_COLUMNS: tuple[str, ...] = (
    *INSERT_COLUMNS,
    "status",
    "regression",
    "resolved_at",
    "ignored_until",
    "ignore_remaining",
)
# The title of an issue built from a stored row ``l`` (backfill of existing entries).
TITLE_SQL = (
    "CASE WHEN l.error IS NOT NULL AND l.stack_trace IS NOT NULL THEN l.error ELSE l.message END"
)
CULPRIT_SQL = "coalesce(l.http_method || ' ', '') || coalesce(l.route, l.endpoint, '')"
SORT_SQL: dict[IssueSort, str] = {
    "last_seen": "last_seen DESC, fingerprint",
    "first_seen": "first_seen DESC, fingerprint",
    "count": "occurrences DESC, last_seen DESC, fingerprint",
    "ips": "ip_count DESC, occurrences DESC, fingerprint",
}


@dataclass(frozen=True, slots=True)
class IssueTables:
    """Quoted names of the logs table and the issue tables of one storage."""

    logs: str
    issues: str
    hours: str
    ips: str
    settings: str


def _bounds(dialect: Dialect) -> tuple[str, str]:
    return ("max", "min") if dialect == "sqlite" else ("GREATEST", "LEAST")


def upsert_issue_tail(dialect: Dialect) -> str:
    """``ON CONFLICT`` clause adding a batch to an issue (alias ``i``, new row ``excluded``).

    A resolved issue reopens as a regression when an occurrence happened after it
    was resolved; an ignored one reopens when its occurrence budget is used up or
    an occurrence comes after its date. Every right-hand side reads the old row.
    """
    big, small = _bounds(dialect)
    # The batch's latest entry replaces the issue's when it is newer (ties: higher id).
    newer = (
        "(excluded.last_seen > i.last_seen OR (excluded.last_seen = i.last_seen"
        " AND excluded.latest_entry_id > i.latest_entry_id))"
    )
    regress = (
        "(i.status = 'resolved' AND (i.resolved_at IS NULL OR excluded.last_seen > i.resolved_at))"
    )
    back = (
        "(i.status = 'ignored' AND ((i.ignore_remaining IS NOT NULL"
        " AND i.ignore_remaining <= excluded.occurrences)"
        " OR (i.ignored_until IS NOT NULL AND excluded.last_seen >= i.ignored_until)))"
    )
    latest = ", ".join(
        f"{col} = CASE WHEN {newer} THEN excluded.{col} ELSE i.{col} END"
        for col in ("title", "culprit", "event", "level", "latest_entry_id")
    )
    return f"""ON CONFLICT (fingerprint) DO UPDATE SET
        occurrences = i.occurrences + excluded.occurrences,
        ip_count = i.ip_count + excluded.ip_count,
        first_seen = {small}(i.first_seen, excluded.first_seen),
        last_seen = {big}(i.last_seen, excluded.last_seen),
        {latest},
        regression = CASE WHEN {regress} THEN TRUE ELSE i.regression END,
        ignored_until = CASE WHEN {back} THEN NULL ELSE i.ignored_until END,
        ignore_remaining = CASE WHEN {back} THEN NULL
            WHEN i.status = 'ignored' AND i.ignore_remaining IS NOT NULL
            THEN i.ignore_remaining - excluded.occurrences
            ELSE i.ignore_remaining END,
        status = CASE WHEN {regress} OR {back} THEN 'open' ELSE i.status END"""


def add_counter_sql(key: str) -> str:
    """``ON CONFLICT`` tail adding ``n`` to a (fingerprint, key) counter row (alias ``t``)."""
    return f"ON CONFLICT (fingerprint, {key}) DO UPDATE SET n = t.n + excluded.n"


Placeholder = Callable[[Any], str]


def status_condition(status: str, p: Placeholder, now: Any) -> str:
    """WHERE condition for an effective status (an expired ignore counts as open)."""
    if status == "open":
        return f"(status = 'open' OR (status = 'ignored' AND ignored_until <= {p(now)}))"
    if status == "ignored":
        return f"(status = 'ignored' AND (ignored_until IS NULL OR ignored_until > {p(now)}))"
    return "status = 'resolved'"


def like_escape(term: str) -> str:
    """``%term%`` with LIKE wildcards in the user's text escaped (escape char ``\\``)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_conditions(query: IssueQuery, p: Placeholder, now: Any, dialect: Dialect) -> list[str]:
    """WHERE conditions for the Issues list filters."""
    conds: list[str] = []
    if query.status is not None:
        conds.append(status_condition(query.status, p, now))
    if query.level is not None:
        conds.append(f"level = {p(query.level)}")
    if query.search:
        like = "LIKE" if dialect == "sqlite" else "ILIKE"  # SQLite's LIKE ignores ASCII case
        term = clean_text(query.search)  # stored text never holds NUL; PostgreSQL rejects it
        pattern = like_escape(term)
        # One placeholder per use: SQLite's "?" are positional.
        matches = [
            f"{col} {like} {p(pattern)} ESCAPE '\\'" for col in ("title", "culprit", "event")
        ]
        conds.append("(" + " OR ".join([*matches, f"fingerprint = {p(term)}"]) + ")")
    return conds


def where(conds: list[str]) -> str:
    """`` WHERE a AND b`` or nothing."""
    return " WHERE " + " AND ".join(conds) if conds else ""
