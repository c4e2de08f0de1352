"""Group entries that describe the same problem under one fingerprint."""

from __future__ import annotations

import hashlib
import re
import sysconfig
import traceback

from fastapi_flare.schema import FlareLogEntry

# Frames from these folders are library code, not the app's: they vary with
# versions and say little about which problem this is.
_LIBRARY_ROOTS: tuple[str, ...] = tuple(
    {
        path
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if (path := sysconfig.get_path(key))
    }
)

_NORMALISERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "<email>"),
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
        "<uuid>",
    ),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<str>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
)
MAX_NORMALISED_CHARS = 512


def normalise_message(message: str) -> str:
    """Replace the variable parts of a message (ids, numbers, quoted values)."""
    text = message[:MAX_NORMALISED_CHARS]
    for pattern, replacement in _NORMALISERS:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "backslashreplace")).hexdigest()[:32]


def _in_app_frames(exc: BaseException) -> list[str]:
    frames = []
    for frame in traceback.extract_tb(exc.__traceback__):
        filename = frame.filename
        if filename.startswith(_LIBRARY_ROOTS) or filename.startswith("<"):
            continue
        module = filename.rsplit("/", 1)[-1].removesuffix(".py")
        frames.append(f"{module}:{frame.name}")
    return frames


def exception_type_name(exc: BaseException) -> str:
    """Qualified name of an exception's class."""
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


def fingerprint_for(entry: FlareLogEntry, exc: BaseException | None, *, from_request: bool) -> str:
    """Exceptions: type + in-app frames; HTTP: status + route + type; else event + message."""
    if exc is not None and entry.event in ("unhandled_exception", "handled_exception"):
        frames = _in_app_frames(exc) or [normalise_message(str(entry.message))]
        return _digest("exc", exception_type_name(exc), *frames)
    if from_request:
        route = entry.route or "<unmatched>"
        type_name = exception_type_name(exc) if exc is not None else ""
        return _digest("http", str(entry.http_status), entry.http_method or "", route, type_name)
    if exc is not None:
        frames = _in_app_frames(exc) or [normalise_message(str(entry.message))]
        return _digest("exc", exception_type_name(exc), *frames)
    return _digest("log", entry.event, normalise_message(entry.message))
