"""A minimal in-process ASGI caller: lifespan plus one GET, without an HTTP client's cost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message

REQUEST_HEADERS = [
    (b"host", b"bench.local"),
    (b"user-agent", b"flare-bench/1.0"),
    (b"accept", b"application/json"),
]
EMPTY_REQUEST: Message = {"type": "http.request", "body": b"", "more_body": False}


@asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """Run the app's lifespan startup, then its shutdown on exit, like a server."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()

    async def send(message: Message) -> None:
        await outbox.put(message)

    async def run_app() -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        await app(scope, inbox.get, send)

    task = asyncio.create_task(run_app())
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"lifespan startup failed: {started}")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


async def _receive() -> Message:
    return EMPTY_REQUEST


async def get(app: ASGIApp, path: str) -> int:
    """Call ``GET path`` once; returns the status (500 when the app raised)."""
    status = 0

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": REQUEST_HEADERS,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    try:
        await app(scope, _receive, send)
    except Exception:
        # Unhandled errors propagate to the server after the 500 was sent, as under uvicorn.
        return status or 500
    return status


def rss_bytes() -> int:
    """Resident set size of this process (VmRSS)."""
    return _status_field("VmRSS")


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (VmHWM)."""
    return _status_field("VmHWM")


def _status_field(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{name} not found in /proc/self/status")
