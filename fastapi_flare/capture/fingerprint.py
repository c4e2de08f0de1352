"""Group entries that describe the same problem under one fingerprint.

Exceptions: the exception type plus the app's own stack frames (module and function,
never line numbers, addresses or library frames). HTTP errors: status, method, route
template and exception type. ``push_log`` entries: event plus the message with its
variable parts (numbers, UUIDs, hex ids, emails, quoted values) normalised. A
fingerprint given to ``push_log`` is used as it is.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sysconfig
from types import CodeType, TracebackType

from fastapi_flare.schema import FlareLogEntry

# Frames from these folders are library code, not the app's: they vary with
# versions and say little about which problem this is.
_LIBRARY_ROOTS: tuple[str, ...] = tuple(
    sorted(
        {
            path
            for key in ("stdlib", "platstdlib", "purelib", "platlib")
            if (path := sysconfig.get_path(key))
        }
    )
)
# Flare's own frames (middleware, handler wrappers) sit in every captured traceback
# when the package is not installed into site-packages (editable installs).
_OWN_PACKAGE = "fastapi_flare."

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
    # A quote right after a letter is an apostrophe ("can't"), not the start of a value.
    (re.compile(r"(?<!\w)'[^'\n]*'|\"[^\"\n]*\""), "<str>"),
    # Ids mixing letters and digits (ord_8Fz2kQ, user42, req-7b9x1): one token each.
    (re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z_])[\w-]{6,}\b"), "<id>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
)
# Normalise this much of a message, then keep this much of the result: cutting
# after normalising means variants of different lengths still compare equal.
MAX_SCANNED_CHARS = 4_096
MAX_NORMALISED_CHARS = 512
# Deep recursion repeats the same frames a varying number of times.
MAX_FRAMES = 50


def normalise_message(message: str) -> str:
    """Replace the variable parts of a message (ids, numbers, quoted values)."""
    text = message[:MAX_SCANNED_CHARS]
    for pattern, replacement in _NORMALISERS:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())[:MAX_NORMALISED_CHARS]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "backslashreplace")).hexdigest()[:32]


def _is_library(filename: str, module: str) -> bool:
    return (
        filename.startswith(_LIBRARY_ROOTS)
        or filename.startswith("<")
        or module.startswith(_OWN_PACKAGE)
    )


# Frames cached by trace formatting and fingerprinting: the same ones come back with
# every failure of a route.
MAX_CACHED_FRAMES = 4_096


@functools.lru_cache(maxsize=MAX_CACHED_FRAMES)
def _code_label(code: CodeType, module: str | None) -> tuple[str, bool]:
    """``module:function`` of a frame's code, and whether it is library code."""
    if not module:
        module = code.co_filename.rsplit("/", 1)[-1].removesuffix(".py")
    return f"{module}:{code.co_qualname}", _is_library(code.co_filename, module)


def _frames(tb: TracebackType | None) -> tuple[list[str], list[str]]:
    """(in-app frames, all frames) as ``module:qualified function``, outermost first."""
    in_app: list[str] = []
    every: list[str] = []
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__")
        if not isinstance(module, str):  # only a str joins the cache key
            module = None
        frame, library = _code_label(tb.tb_frame.f_code, module)
        if not every or every[-1] != frame:  # collapse recursion
            every.append(frame)
            if not library:
                in_app.append(frame)
        tb = tb.tb_next
    return in_app[-MAX_FRAMES:], every[-MAX_FRAMES:]


def exception_type_name(exc: BaseException) -> str:
    """Qualified name of an exception's class."""
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


def exception_fingerprint(exc: BaseException, message: str) -> str:
    """Type plus in-app frames; library frames, then the message, when there are none."""
    in_app, every = _frames(exc.__traceback__)
    frames = in_app or every or [normalise_message(message)]
    return _digest("exc", exception_type_name(exc), *frames)


# Few distinct inputs (routes × methods × statuses), one per failed request: remember them.
@functools.lru_cache(maxsize=4096)
def http_fingerprint(
    status: int | None, method: str | None, route: str | None, exc_type: str
) -> str:
    """Status, method, route template (``<unmatched>`` for none) and exception type."""
    return _digest("http", str(status), method or "", route or "<unmatched>", exc_type)


def message_fingerprint(event: str, message: str) -> str:
    """Event plus normalised message."""
    return _digest("log", event, normalise_message(message))


def fingerprint_for(entry: FlareLogEntry, exc: BaseException | None, *, from_request: bool) -> str:
    """Exceptions: type + in-app frames; HTTP: status + route + type; else event + message."""
    if exc is not None and entry.event in ("unhandled_exception", "handled_exception"):
        return exception_fingerprint(exc, str(entry.message))
    if from_request:
        type_name = exception_type_name(exc) if exc is not None else ""
        return http_fingerprint(entry.http_status, entry.http_method, entry.route, type_name)
    if exc is not None:
        return exception_fingerprint(exc, str(entry.message))
    return message_fingerprint(entry.event, entry.message)


def fingerprint_of(entry: FlareLogEntry) -> str:
    """The entry's fingerprint, or one derived from its stored fields when it has none.

    Entries written straight to storage (imports, older versions) carry no
    exception object; they group by request facts when they have them, else by
    event and message.
    """
    if entry.fingerprint:
        return entry.fingerprint
    if entry.http_status is not None and (entry.route or entry.endpoint):
        error_type = (entry.error or "").split(":", 1)[0] if entry.error else ""
        route = entry.route or normalise_message(entry.endpoint or "")
        return http_fingerprint(entry.http_status, entry.http_method, route, error_type)
    return message_fingerprint(entry.event, entry.message)
