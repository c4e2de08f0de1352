"""Jinja filters: times, sizes, JSON and stack traces, all returning plain text to escape."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi_flare.capture.redact import DEFAULT_REDACTED_HEADERS, REDACTED

_LIBRARY_PATH = re.compile(r"[/\\](site|dist)-packages[/\\]|[/\\]lib[/\\]python\d")


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime (storage may hand back naive UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_time(moment: datetime | None) -> str:
    """``2024-05-01 12:34:56 UTC``."""
    if moment is None:
        return "—"
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def short_time(moment: datetime | None) -> str:
    """``2024-05-01 12:34:56`` (UTC, for table cells where the zone is in the title)."""
    if moment is None:
        return "—"
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S")


def iso_time(moment: datetime | None) -> str:
    """Machine-readable ISO 8601 for ``<time datetime>``."""
    return "" if moment is None else as_utc(moment).isoformat()


def relative_time(moment: datetime | None, now: datetime | None = None) -> str:
    """``just now``, ``5 min ago``, ``3 h ago``, ``2 d ago``."""
    if moment is None:
        return "never"
    seconds = int(((now or datetime.now(UTC)) - as_utc(moment)).total_seconds())
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def format_bytes(size: int | str | None) -> str:
    """``1.5 MB`` style sizes; text passes through."""
    if size is None:
        return "—"
    if isinstance(size, str):
        if not size.isdigit():
            return size
        size = int(size)
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def format_number(value: int | None) -> str:
    """``12,345``; an em dash for unknown."""
    return "—" if value is None else f"{value:,}"


def format_duration(ms: int | None) -> str:
    """``45 ms`` or ``1.25 s``."""
    if ms is None:
        return "—"
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def pretty_json(value: Any) -> str:
    """Indented JSON with sorted keys; non-JSON values as their ``str``."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def status_tone(status: int | None) -> str:
    """CSS tone for an HTTP status: ok, redirect, warn, error or none."""
    if status is None:
        return "none"
    return {2: "ok", 3: "redirect", 4: "warn", 5: "error"}.get(status // 100, "none")


def masked_headers(headers: dict[str, str] | None) -> list[tuple[str, str]]:
    """Headers sorted by name; credential headers masked again (rows from older versions)."""
    if not headers:
        return []
    return sorted(
        (name, REDACTED if name.lower() in DEFAULT_REDACTED_HEADERS else value)
        for name, value in headers.items()
    )


@dataclass(frozen=True, slots=True)
class TraceLine:
    """One stack trace line and how to show it (frame, library frame, code, exception)."""

    kind: str
    text: str


def trace_lines(stack: str | None) -> list[TraceLine]:
    """Split a Python traceback into lines tagged for styling."""
    if not stack:
        return []
    lines: list[TraceLine] = []
    in_library = False
    for text in stack.rstrip("\n").splitlines():
        stripped = text.lstrip()
        if stripped.startswith('File "'):
            in_library = bool(_LIBRARY_PATH.search(stripped))
            lines.append(TraceLine("frame-lib" if in_library else "frame", text))
        elif text.startswith((" ", "\t")) and stripped:
            lines.append(TraceLine("code-lib" if in_library else "code", text))
        elif text.startswith("Traceback") or not stripped:
            lines.append(TraceLine("head", text))
        else:
            lines.append(TraceLine("exc", text))
    return lines


# Friendlier labels for the facts the bundled backends report; others are derived.
FACT_LABELS: dict[str, str] = {
    "sqlite_version": "SQLite version",
    "server_version": "Server version",
    "db_size": "Database file",
    "wal_size": "WAL file",
    "file_size": "Size on disk",
    "busy_timeout_ms": "Busy timeout",
    "pool_size": "Pool size",
    "pool_in_use": "Connections in use",
    "pool_idle": "Idle connections",
    "pool_min_max": "Pool min..max",
}


def storage_facts(details: dict[str, str] | None) -> list[tuple[str, str]]:
    """Backend-specific facts as (label, value).

    ``x_bytes`` is formatted as a size unless ``x`` is reported too (then it is a
    duplicate for machines); ``x_ms`` gets its unit.
    """
    facts: list[tuple[str, str]] = []
    values = details or {}
    for key, value in values.items():
        if key.endswith("_bytes") and key.removesuffix("_bytes") in values:
            continue
        text = str(value)
        if key.endswith("_bytes"):
            text = format_bytes(text)
        elif key.endswith("_ms") and text.isdigit():
            text = f"{text} ms"
        label = FACT_LABELS.get(key)
        if label is None:
            label = key.removesuffix("_bytes").removesuffix("_ms").replace("_", " ").strip()
            label = label.capitalize() or key
        facts.append((label, text))
    return facts


FILTERS: dict[str, Any] = {
    "storage_facts": storage_facts,
    "format_time": format_time,
    "short_time": short_time,
    "iso_time": iso_time,
    "relative_time": relative_time,
    "format_bytes": format_bytes,
    "format_number": format_number,
    "format_duration": format_duration,
    "pretty_json": pretty_json,
    "status_tone": status_tone,
    "masked_headers": masked_headers,
    "trace_lines": trace_lines,
}
