"""Helpers shared by the SQLite and PostgreSQL backends (no driver imports here)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi_flare.schema import LEVELS, Level

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
HOUR_MICROS = 3_600_000_000
# Largest page the storage hands out, whatever the caller asks for.
MAX_PAGE_SIZE = 500
# Longer search terms are cut: SQLite refuses LIKE patterns over 50 kB and no
# real search needs more than a stack-trace line.
MAX_SEARCH_CHARS = 1024
# Ids are 64-bit; anything longer cannot exist and is answered with "not found".
_ID_PATTERN = re.compile(r"^[0-9]{1,18}$")
REPLACEMENT_CHAR = "\ufffd"
# The storage panel counts rows waiting for the search index up to this many.
PENDING_CAP = 100_000

Direction = Literal["desc", "asc"]


def utc(value: datetime) -> datetime:
    """Aware UTC datetime; naive values are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_micros(value: datetime) -> int:
    """Microseconds since the Unix epoch (exact, no float rounding)."""
    return (utc(value) - EPOCH) // ONE_MICROSECOND


def from_micros(value: int) -> datetime:
    """Inverse of ``to_micros``."""
    return EPOCH + timedelta(microseconds=value)


def hour_bucket(value: datetime) -> int:
    """Hours since the epoch: the key of the per-hour counters behind the stats cards."""
    return to_micros(value) // HOUR_MICROS


def clean_text(value: str) -> str:
    """Make text storable everywhere: no NUL (PostgreSQL rejects it) nor lone surrogates."""
    if "\x00" in value:
        value = value.replace("\x00", REPLACEMENT_CHAR)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def clean_opt(value: str | None) -> str | None:
    """``clean_text`` that lets None through."""
    return None if value is None else clean_text(value)


def _clean_json(value: Any, depth: int = 0) -> Any:
    if depth > 200:  # deeper than any real context; also stops cycles
        return "[too deep]"
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): _clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(v, depth + 1) for v in value]
    return value


def dump_json(value: dict[str, Any] | dict[str, str] | None) -> str | None:
    """JSON text for a context/body/headers column; never raises."""
    if value is None:
        return None
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
        if "\\u0000" in text:
            # A NUL inside a string: PostgreSQL's jsonb refuses the escape, so
            # clean the values and dump again (rare, so only on this path).
            text = json.dumps(_clean_json(value), ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return UNSTORABLE_JSON
    # Lone surrogates may remain; callers run clean_text over non-ASCII rows.
    return text


UNSTORABLE_JSON = json.dumps({"_flare_error": "value could not be stored as JSON"})


def plain_text(values: tuple[Any, ...]) -> bool:
    """True when no string in ``values`` needs ``clean_text`` (the common case).

    One join and two C-level checks instead of a call per column: this runs for
    every stored row.
    """
    text = "".join([v for v in values if v.__class__ is str])
    return text.isascii() and "\x00" not in text


def clean_row(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """``values`` with ``clean_text`` applied to every string."""
    return tuple(clean_text(v) if isinstance(v, str) else v for v in values)


def load_json(value: object) -> dict[str, Any] | None:
    """Decode a JSON column; anything that is not a JSON object comes back as None."""
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    try:
        decoded = json.loads(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, RecursionError):
        return None
    return decoded if isinstance(decoded, dict) else None


def load_headers(value: object) -> dict[str, str] | None:
    """Decode the headers column into ``dict[str, str]`` (None when unreadable)."""
    decoded = load_json(value)
    if decoded is None:
        return None
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in decoded.items()}


def parse_id(entry_id: str | int) -> int | None:
    """Row id from user input; None for anything that is not a plain positive integer."""
    if isinstance(entry_id, int):
        return entry_id if 0 < entry_id < 2**63 else None
    text = entry_id.strip()
    if not _ID_PATTERN.match(text):
        return None
    number = int(text)
    return number if number > 0 else None


def clamp_limit(limit: int) -> int:
    """Page size within 1..MAX_PAGE_SIZE."""
    return max(1, min(int(limit), MAX_PAGE_SIZE))


def search_term(raw: str | None) -> str | None:
    """Normalised search input: NUL removed, length capped, empty means no search."""
    if raw is None:
        return None
    term = clean_text(raw.replace("\x00", ""))[:MAX_SEARCH_CHARS]
    return term or None


def like_pattern(term: str) -> str:
    """``%term%`` with LIKE wildcards in the user's text escaped (escape char ``\\``)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def level_or_none(value: object) -> Level | None:
    """A known level, else None (rows written by hand may hold anything)."""
    for level in LEVELS:
        if value == level:
            return level
    return None


def count_buckets(pairs: Iterable[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """Aggregate ``(series, bucket)`` pairs into sorted ``(series, bucket, n)`` rows.

    Sorted so concurrent writers always touch counter rows in the same order.
    """
    counts = Counter(pairs)
    return sorted((series, bucket, n) for (series, bucket), n in counts.items())


def log_series(level: str) -> str:
    """Counter series name for a log level."""
    return f"log:{level}"


REQUEST_SERIES = "req"
LOG_SERIES: tuple[str, ...] = tuple(log_series(level) for level in LEVELS)


def short_error(exc: BaseException) -> str:
    """A one-line, readable reason for a driver error."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


@dataclass(frozen=True, slots=True)
class PagePlan:
    """How to fetch one keyset page: bounds, direction and the size to fetch."""

    before_id: int | None
    after_id: int | None
    direction: Direction
    limit: int

    @classmethod
    def of(cls, before_id: int | None, after_id: int | None, limit: int) -> PagePlan:
        """Ascending only when paging to newer rows; otherwise newest first."""
        direction: Direction = "asc" if after_id is not None and before_id is None else "desc"
        return cls(before_id, after_id, direction, clamp_limit(limit))


def pending_text(pending: int) -> str:
    """``"12 rows pending"``, or ``"over 100000 rows pending"`` past the cap."""
    if pending > PENDING_CAP:
        return f"over {PENDING_CAP} rows pending"
    return f"{pending} rows pending"
