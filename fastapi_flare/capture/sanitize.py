"""Turn arbitrary values into capped, JSON-safe, secret-free data."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any
from uuid import UUID

from fastapi_flare.capture.redact import REDACTED, Redactor

MAX_DEPTH = 12
MAX_ITEMS = 200
MAX_STRING_CHARS = 4_096
TRUNCATED_MARKER = "…[truncated {n} chars]"
CYCLE_MARKER = "[cycle]"
DEPTH_MARKER = "[max depth]"


def cap_text(value: str, limit: int) -> str:
    """Cut ``value`` to ``limit`` characters and say how much was removed."""
    if len(value) <= limit:
        return value
    removed = len(value) - limit
    return value[:limit] + TRUNCATED_MARKER.format(n=removed)


def clean_text(value: object, limit: int) -> str:
    """Any value as a capped str without NUL characters (which some databases refuse)."""
    text = value if isinstance(value, str) else _safe_str(value)
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    # Lone surrogates cannot be encoded as UTF-8; keep them visible but storable.
    # (ASCII, the common case, has none: skip the round trip.)
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return cap_text(text, limit)


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # a broken __str__ must not break capture
        return f"<unprintable {type(value).__name__}>"


class Sanitizer:
    """Converts contexts and bodies to JSON-safe dicts, masking secrets."""

    def __init__(self, redactor: Redactor, max_chars: int) -> None:
        self.redactor = redactor
        self.max_chars = max_chars

    def mapping(self, value: object) -> dict[str, Any] | None:
        """A JSON-safe dict for ``value`` (non-dicts are wrapped), capped in size."""
        if value is None:
            return None
        converted = self._convert(value, depth=0, seen=set())
        result = converted if isinstance(converted, dict) else {"value": converted}
        return self._cap(result)

    def _cap(self, data: dict[str, Any]) -> dict[str, Any]:
        encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        if len(encoded) <= self.max_chars:
            return data
        return {
            "_truncated": True,
            "_original_chars": len(encoded),
            "preview": cap_text(encoded, self.max_chars // 2),
        }

    def _convert(self, value: object, depth: int, seen: set[int]) -> Any:
        if value is None or isinstance(value, bool | int):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else str(value)
        if isinstance(value, str):
            return clean_text(value, MAX_STRING_CHARS)
        if isinstance(value, bytes | bytearray | memoryview):
            return _bytes_summary(bytes(value))
        if isinstance(value, datetime | date | time):
            return value.isoformat()
        if isinstance(value, timedelta):
            return value.total_seconds()
        if isinstance(value, Decimal | UUID | PurePath):
            return str(value)
        if isinstance(value, Enum):
            return self._convert(value.value, depth, seen)
        if depth >= MAX_DEPTH:
            return DEPTH_MARKER
        marker = id(value)
        if marker in seen:
            return CYCLE_MARKER
        seen.add(marker)
        try:
            if isinstance(value, Mapping):
                return self._convert_mapping(value, depth, seen)
            if isinstance(value, list | tuple | set | frozenset):
                items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
                out = [self._convert(item, depth + 1, seen) for item in list(items)[:MAX_ITEMS]]
                if len(value) > MAX_ITEMS:
                    out.append(f"…[{len(value) - MAX_ITEMS} more items]")
                return out
            dumped = _model_dump(value)
            if dumped is not None:
                return self._convert(dumped, depth + 1, seen)
            return clean_text(_safe_repr(value), MAX_STRING_CHARS)
        finally:
            seen.discard(marker)

    def _convert_mapping(self, value: Mapping[Any, Any], depth: int, seen: set[int]) -> Any:
        out: dict[str, Any] = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= MAX_ITEMS:
                out["…"] = f"[{len(value) - MAX_ITEMS} more keys]"
                break
            name = clean_text(key, 256)
            out[name] = (
                REDACTED
                if self.redactor.is_secret(name)
                else (self._convert(item, depth + 1, seen))
            )
        return out


def _model_dump(value: object) -> object | None:
    """Use pydantic's or a dataclass's own view of an object when there is one."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            dumped: object = dump(mode="json")
        except Exception:
            return None
        return dumped
    fields = getattr(value, "__dataclass_fields__", None)
    if isinstance(fields, dict):
        return {name: getattr(value, name, None) for name in fields}
    return None


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def _bytes_summary(data: bytes) -> str:
    """Text when the bytes are UTF-8, else a short hex preview with the size."""
    try:
        return clean_text(data.decode("utf-8"), MAX_STRING_CHARS)
    except UnicodeDecodeError:
        return f"<{len(data)} bytes: {data[:32].hex()}{'…' if len(data) > 32 else ''}>"
