"""Per-request facts the middleware collects, read lazily only when something is recorded."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from random import getrandbits
from typing import Any

REQUEST_ID_HEADER = b"x-request-id"
MAX_REQUEST_ID_CHARS = 128
# scope key where wrapped exception handlers leave the exception they handled
HANDLED_EXCEPTION_KEY = "fastapi_flare.exception"


def sane_request_id(raw: bytes | None) -> str:
    """The client's X-Request-ID when printable ASCII and short, else a new UUID4."""
    if raw and len(raw) <= MAX_REQUEST_ID_CHARS and raw.isascii():
        text = raw.decode("ascii")
        if text.isprintable() and text.strip() == text:
            return text
    return new_request_id()


# Bits of a 128-bit UUID: version nibble 4, variant bits 10 (RFC 4122).
_UUID4_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


def new_request_id() -> str:
    """A random UUID4 string, without building a ``uuid.UUID``.

    ``str(uuid.uuid4())`` was the largest single cost of an untracked request. A
    request id correlates logs; it guards nothing, so the process's pseudo-random
    generator (reseeded in forked workers) does, at half the cost of ``os.urandom``.
    """
    h = "%032x" % (getrandbits(128) & _UUID4_CLEAR | _UUID4_SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(slots=True)
class RequestContext:
    """What one request looked like; built on every request, so kept tiny."""

    scope: MutableMapping[str, Any]
    started_wall: float
    started: float
    request_id: str
    status: int | None = None
    duration_ms: int | None = None
    body: bytearray = field(default_factory=bytearray)
    body_truncated: bool = False
    # Request facts both entries of a failure share, cleaned once (see EntryFactory).
    facts: Any = None

    @property
    def method(self) -> str:
        """HTTP method."""
        return str(self.scope.get("method", "GET"))

    @property
    def path(self) -> str:
        """The raw path, without the query string."""
        return str(self.scope.get("path", ""))

    @property
    def route_template(self) -> str | None:
        """Path template of the matched route (``/items/{item_id}``), None when unmatched."""
        route = self.scope.get("route")
        if route is None:
            return None
        template = getattr(route, "path_format", None) or getattr(route, "path", None)
        if not isinstance(template, str):
            return None
        root = str(self.scope.get("root_path", ""))
        # Routes of mounted sub-applications are relative to their mount point.
        if root and not template.startswith(root) and self.path.startswith(root):
            return root + template
        return template

    def header(self, name: bytes) -> bytes | None:
        """First value of a request header (lowercase name)."""
        for key, value in self.scope.get("headers", ()):
            if key == name:
                return bytes(value)
        return None

    def client_ip(self, trust_forwarded_for: bool) -> str | None:
        """The peer address, or the first X-Forwarded-For hop when proxies are trusted."""
        if trust_forwarded_for:
            forwarded = self.header(b"x-forwarded-for")
            if forwarded:
                first = forwarded.split(b",", 1)[0].strip().decode("latin-1")
                if first:
                    return first[:64]
        client = self.scope.get("client")
        return str(client[0]) if client else None

    @property
    def handled_exception(self) -> BaseException | None:
        """The exception an app exception handler turned into a response, if any."""
        exc = self.scope.get(HANDLED_EXCEPTION_KEY)
        return exc if isinstance(exc, BaseException) else None
