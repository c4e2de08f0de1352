"""Lenient parsing of the dashboard's query strings: bad values are dropped, never raised."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from fastapi_flare.schema import LEVELS, Level, LogQuery, RequestQuery

PAGE_SIZES: tuple[int, ...] = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
MAX_TEXT_CHARS = 200
# Row ids are SQLite/PostgreSQL bigints; anything longer cannot be a cursor.
MAX_CURSOR = 2**63 - 1

TIME_RANGES: dict[str, tuple[str, timedelta]] = {
    "15m": ("Last 15 minutes", timedelta(minutes=15)),
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
}
HTTP_METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
STATUS_CLASSES: tuple[int, ...] = (2, 3, 4, 5)

# Control characters (NUL included) break drivers and mean nothing in a filter.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FINGERPRINT = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
# Both backends use bigint row ids; anything else is answered 404 without a query.
_ENTRY_ID = re.compile(r"^[0-9]{1,18}$")


def clean_text(value: str | None, max_chars: int = MAX_TEXT_CHARS) -> str | None:
    """Trimmed text without control characters, capped; None when nothing is left."""
    if value is None:
        return None
    text = _CONTROL.sub("", value).strip()[:max_chars].strip()
    return text or None


def parse_entry_id(value: str) -> str | None:
    """A plausible row id from a URL path, or None."""
    return value if _ENTRY_ID.fullmatch(value) and int(value) > 0 else None


def parse_cursor(value: str | None) -> int | None:
    """A positive row id, or None for anything else (negative, huge, not a number)."""
    if value is None:
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if 0 < number <= MAX_CURSOR else None


def parse_page_size(value: str | None) -> int:
    """One of ``PAGE_SIZES``; the default for anything else."""
    if value is not None and value.strip().isascii() and value.strip().isdigit():
        size = int(value.strip()[:6])
        if size in PAGE_SIZES:
            return size
    return DEFAULT_PAGE_SIZE


def parse_datetime(value: str | None) -> datetime | None:
    """An ISO 8601 instant (naive means UTC), or None when unreadable."""
    text = clean_text(value, 64)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def parse_level(value: str | None) -> Level | None:
    """ERROR or WARNING (any case), else None."""
    text = (clean_text(value, 16) or "").upper()
    for level in LEVELS:
        if text == level:
            return level
    return None


def _params(pairs: Mapping[str, object]) -> dict[str, str]:
    return {key: str(value) for key, value in pairs.items() if value not in (None, "")}


@dataclass(frozen=True, slots=True)
class LogFilters:
    """The Errors view's state as read from the URL."""

    level: Level | None = None
    event: str | None = None
    q: str | None = None
    range: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    route: str | None = None
    fingerprint: str | None = None
    before: int | None = None
    after: int | None = None
    limit: int = DEFAULT_PAGE_SIZE

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> LogFilters:
        """Read filters from query parameters, dropping whatever does not parse."""
        time_range = clean_text(params.get("range"), 8)
        fingerprint = clean_text(params.get("fingerprint"), 128)
        return cls(
            level=parse_level(params.get("level")),
            event=clean_text(params.get("event")),
            q=clean_text(params.get("q")),
            range=time_range if time_range in TIME_RANGES else None,
            since=parse_datetime(params.get("since")),
            until=parse_datetime(params.get("until")),
            route=clean_text(params.get("route"), 300),
            fingerprint=fingerprint if fingerprint and _FINGERPRINT.match(fingerprint) else None,
            before=parse_cursor(params.get("before")),
            after=parse_cursor(params.get("after")),
            limit=parse_page_size(params.get("limit")),
        )

    @property
    def active(self) -> bool:
        """True when any filter (not paging) narrows the list."""
        return any(
            (self.level, self.event, self.q, self.range, self.since, self.until, self.route)
        ) or bool(self.fingerprint)

    def to_query(self, now: datetime) -> LogQuery:
        """The storage query; a time range preset counts back from ``now``."""
        since = self.since
        if self.range is not None:
            preset = now - TIME_RANGES[self.range][1]
            since = preset if since is None else max(since, preset)
        return LogQuery(
            level=self.level,
            event=self.event,
            search=self.q,
            since=since,
            until=self.until,
            fingerprint=self.fingerprint,
            route=self.route,
            before_id=self.before,
            after_id=None if self.before is not None else self.after,
            limit=self.limit,
        )

    def params(self, *, paging: bool = True) -> dict[str, str]:
        """Canonical, non-empty query parameters (for links and refreshes)."""
        pairs: dict[str, object] = {
            "level": self.level,
            "event": self.event,
            "q": self.q,
            "range": self.range,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "route": self.route,
            "fingerprint": self.fingerprint,
            "limit": self.limit if self.limit != DEFAULT_PAGE_SIZE else None,
        }
        if paging:
            pairs["before"] = self.before
            pairs["after"] = None if self.before is not None else self.after
        return _params(pairs)

    def query_string(self, **changes: object) -> str:
        """``?a=b`` for these filters with ``changes`` applied (paging reset unless given)."""
        updated = replace(self, before=None, after=None)
        updated = replace(updated, **changes)  # type: ignore[arg-type]
        encoded = urlencode(updated.params())
        return f"?{encoded}" if encoded else ""


@dataclass(frozen=True, slots=True)
class RequestFilters:
    """The HTTP Requests view's state as read from the URL."""

    method: str | None = None
    status: int | None = None
    q: str | None = None
    before: int | None = None
    after: int | None = None
    limit: int = DEFAULT_PAGE_SIZE

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> RequestFilters:
        """Read filters from query parameters, dropping whatever does not parse."""
        method = (clean_text(params.get("method"), 16) or "").upper()
        status_text = (clean_text(params.get("status"), 8) or "").lower().rstrip("x")
        status = int(status_text) if status_text in ("2", "3", "4", "5") else None
        return cls(
            method=method if method in HTTP_METHODS else None,
            status=status,
            q=clean_text(params.get("q")),
            before=parse_cursor(params.get("before")),
            after=parse_cursor(params.get("after")),
            limit=parse_page_size(params.get("limit")),
        )

    @property
    def active(self) -> bool:
        """True when any filter (not paging) narrows the list."""
        return bool(self.method or self.status or self.q)

    def to_query(self) -> RequestQuery:
        """The storage query."""
        return RequestQuery(
            method=self.method,
            status_class=self.status,
            search=self.q,
            before_id=self.before,
            after_id=None if self.before is not None else self.after,
            limit=self.limit,
        )

    def params(self, *, paging: bool = True) -> dict[str, str]:
        """Canonical, non-empty query parameters (for links and refreshes)."""
        pairs: dict[str, object] = {
            "method": self.method,
            "status": f"{self.status}xx" if self.status else None,
            "q": self.q,
            "limit": self.limit if self.limit != DEFAULT_PAGE_SIZE else None,
        }
        if paging:
            pairs["before"] = self.before
            pairs["after"] = None if self.before is not None else self.after
        return _params(pairs)

    def query_string(self, **changes: object) -> str:
        """``?a=b`` for these filters with ``changes`` applied (paging reset unless given)."""
        updated = replace(self, before=None, after=None)
        updated = replace(updated, **changes)  # type: ignore[arg-type]
        encoded = urlencode(updated.params())
        return f"?{encoded}" if encoded else ""
