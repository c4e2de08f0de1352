"""The Issues view's state in the query string: lenient parsing, canonical links."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import cast
from urllib.parse import urlencode

from fastapi_flare.grouping.model import ISSUE_SORTS, ISSUE_STATUSES, IssueQuery, IssueSort
from fastapi_flare.schema import LEVELS, IssueStatus, Level

PAGE_SIZES: tuple[int, ...] = (25, 50, 100)
DEFAULT_PAGE_SIZE = 25
DEFAULT_STATUS: IssueStatus = "open"
ALL = "all"
MAX_PAGE = 10_000
MAX_SEARCH_CHARS = 200
SORT_LABELS: dict[IssueSort, str] = {
    "last_seen": "Last seen",
    "first_seen": "First seen",
    "count": "Events",
    "ips": "Distinct IPs",
}
STATUS_LABELS: dict[str, str] = {
    "open": "Open",
    "ignored": "Ignored",
    "resolved": "Resolved",
    ALL: "All",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean(value: str | None, max_chars: int = MAX_SEARCH_CHARS) -> str | None:
    """Trimmed text without control characters, capped; None when empty."""
    if value is None:
        return None
    text = _CONTROL.sub("", value).strip()[:max_chars].strip()
    return text or None


def _choice(value: str | None, choices: tuple[str, ...]) -> str | None:
    text = (clean(value, 32) or "").lower()
    return text if text in choices else None


def _number(value: str | None, default: int, low: int, high: int) -> int:
    text = (clean(value, 12) or "").strip()
    if not text.isascii() or not text.isdigit():
        return default
    return min(max(int(text), low), high)


@dataclass(frozen=True, slots=True)
class IssueFilters:
    """Status tab (None means all), level, search, sort and page of the Issues list."""

    status: IssueStatus | None = DEFAULT_STATUS
    level: Level | None = None
    q: str | None = None
    sort: IssueSort = "last_seen"
    page: int = 1
    limit: int = DEFAULT_PAGE_SIZE

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> IssueFilters:
        """Read the filters, dropping whatever does not parse."""
        raw_status = _choice(params.get("status"), (*ISSUE_STATUSES, ALL))
        status = DEFAULT_STATUS if raw_status is None else raw_status
        level = (clean(params.get("level"), 16) or "").upper()
        size = _number(params.get("limit"), DEFAULT_PAGE_SIZE, 1, max(PAGE_SIZES))
        return cls(
            status=None if status == ALL else cast("IssueStatus", status),
            level=level if level in LEVELS else None,
            q=clean(params.get("q")),
            sort=cast("IssueSort", _choice(params.get("sort"), ISSUE_SORTS) or "last_seen"),
            page=_number(params.get("page"), 1, 1, MAX_PAGE),
            limit=size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE,
        )

    @property
    def status_key(self) -> str:
        """``open``, ``ignored``, ``resolved`` or ``all``."""
        return self.status or ALL

    @property
    def active(self) -> bool:
        """True when a level or search narrows the list."""
        return bool(self.level or self.q)

    def to_query(self) -> IssueQuery:
        """The storage query for this page."""
        return IssueQuery(
            status=self.status,
            level=self.level,
            search=self.q,
            sort=self.sort,
            offset=(self.page - 1) * self.limit,
            limit=self.limit,
        )

    def params(self) -> dict[str, str]:
        """Canonical, non-default query parameters."""
        pairs: dict[str, object] = {
            "status": None if self.status == DEFAULT_STATUS else self.status_key,
            "level": self.level,
            "q": self.q,
            "sort": None if self.sort == "last_seen" else self.sort,
            "page": self.page if self.page > 1 else None,
            "limit": self.limit if self.limit != DEFAULT_PAGE_SIZE else None,
        }
        return {key: str(value) for key, value in pairs.items() if value not in (None, "")}

    def query_string(self, **changes: object) -> str:
        """``?a=b`` for these filters with ``changes`` applied (page reset unless given)."""
        changes.setdefault("page", 1)
        if changes.get("status") == ALL:
            changes["status"] = None
        updated = replace(self, **changes)  # type: ignore[arg-type]
        encoded = urlencode(updated.params())
        return f"?{encoded}" if encoded else ""
