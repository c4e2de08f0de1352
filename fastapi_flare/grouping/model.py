"""Issues: one per fingerprint, with counters kept at write time and a status."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from fastapi_flare.schema import IssueStatus, Level

ISSUE_STATUSES: tuple[IssueStatus, ...] = get_args(IssueStatus)
IssueSort = Literal["last_seen", "first_seen", "count", "ips"]
ISSUE_SORTS: tuple[IssueSort, ...] = get_args(IssueSort)
IssueAction = Literal["resolve", "ignore", "reopen"]
ISSUE_ACTIONS: tuple[IssueAction, ...] = get_args(IssueAction)

SPARKLINE_HOURS = 24
HOUR_SECONDS = 3600
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR = timedelta(hours=1)
MAX_TITLE_CHARS = 300
MAX_CULPRIT_CHARS = 300


@dataclass(slots=True)
class Issue:
    """One problem: every entry with the same fingerprint.

    ``status`` is the effective status: an issue ignored until a date that has
    passed reads as open. ``hourly`` holds the last 24 hourly counts, oldest first,
    when the reader asked for them.
    """

    fingerprint: str
    title: str
    culprit: str
    event: str
    level: Level
    count: int
    distinct_ips: int
    first_seen: datetime
    last_seen: datetime
    latest_entry_id: str
    status: IssueStatus
    regression: bool = False
    resolved_at: datetime | None = None
    ignored_until: datetime | None = None
    ignore_remaining: int | None = None
    hourly: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class IssueQuery:
    """Filters, sort and offset page of the Issues list (``status`` None means all)."""

    status: IssueStatus | None = "open"
    level: Level | None = None
    search: str | None = None
    sort: IssueSort = "last_seen"
    offset: int = 0
    limit: int = 25


@dataclass(slots=True)
class IssuePage:
    """One page of issues, the number matching the filters, and whether more follow."""

    items: list[Issue]
    total: int
    offset: int
    limit: int

    @property
    def has_next(self) -> bool:
        """True when a later page exists."""
        return self.offset + len(self.items) < self.total

    @property
    def has_previous(self) -> bool:
        """True when an earlier page exists."""
        return self.offset > 0


@dataclass(frozen=True, slots=True)
class IssueChange:
    """A state change asked for by a user.

    ``ignore`` may carry a condition: the issue comes back once it happened
    ``ignore_count`` more times, or once ``ignore_until`` has passed, whichever
    comes first; with neither it stays ignored until someone reopens it.
    """

    action: IssueAction
    ignore_count: int | None = None
    ignore_until: datetime | None = None


def epoch_hour(moment: datetime) -> int:
    """Hours since the epoch: the sparkline bucket of an instant."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return (aware - _EPOCH) // _HOUR  # exact: same bucket as the SQL ts / 3600000000


def hourly_series(hours: dict[int, int], now: datetime) -> list[int]:
    """The 24 hourly counts ending with the current hour, oldest first."""
    current = epoch_hour(now)
    return [hours.get(hour, 0) for hour in range(current - SPARKLINE_HOURS + 1, current + 1)]
