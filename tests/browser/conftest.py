"""A real uvicorn server on 127.0.0.1 and headless Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from fastapi import FastAPI

from fastapi_flare import FlareConfig, setup
from fastapi_flare.runtime import FlareRuntime
from fastapi_flare.schema import FlareLogEntry, FlareRequestEntry
from tests.conftest import CHROMIUM_ARGS, CHROMIUM_PATH, unavailable

T = TypeVar("T")
# The tests shorten the poll interval through this per-browser setting; 30 s stays the default.
FAST_REFRESH = "localStorage.setItem('flare:refresh-seconds', '0.5')"


class LiveServer:
    """The app under uvicorn in a background thread, with its own event loop."""

    def __init__(self, app: FastAPI, runtime: FlareRuntime) -> None:
        self.app = app
        self.runtime = runtime
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self.origin = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="none", http="h11")
        self._server = uvicorn.Server(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="flare-live-server", daemon=True)

    def _run(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await self._server.serve(sockets=[self._sock])

        asyncio.run(serve())

    def start(self) -> None:
        """Start serving and wait until storage is open."""
        self._thread.start()
        deadline = time.monotonic() + 15
        while not (self._server.started and self.runtime.worker.storage_ready.is_set()):
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Shut down (the lifespan flushes the queue) and join the thread."""
        self._server.should_exit = True
        self._thread.join(30)
        self._sock.close()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop (the storage belongs to it)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    def add_logs(self, entries: Iterable[FlareLogEntry]) -> None:
        """Write entries to the real storage, as the writer would."""
        self.call(self.runtime.storage.save_logs(list(entries)))

    def add_requests(self, entries: Iterable[FlareRequestEntry]) -> None:
        """Write tracked requests to the real storage."""
        self.call(self.runtime.storage.save_requests(list(entries)))


def build_app(tmp_path: Path, **options: Any) -> tuple[FastAPI, FlareRuntime]:
    """A small host app with Flare on a fresh SQLite file."""
    app = FastAPI()

    @app.get("/")
    async def index() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom from the live server")

    options.setdefault("sqlite_path", str(tmp_path / "flare.db"))
    options.setdefault("worker_interval_seconds", 0.1)
    runtime = setup(app, FlareConfig(**options))
    return app, runtime


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    """A running server for one test."""
    app, runtime = build_app(tmp_path, capture_request_headers=True, track_2xx_requests=True)
    server = LiveServer(app, runtime)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium; skipped locally (failed in CI) when it cannot start."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable(f"Playwright is not installed: {exc}")
    if not Path(CHROMIUM_PATH).exists():
        unavailable(f"Chromium not found at {CHROMIUM_PATH}")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
    except Exception as exc:
        playwright.stop()
        unavailable(f"Chromium cannot start: {exc}")
    yield chromium
    chromium.close()
    playwright.stop()


@dataclass
class Watch:
    """What a page did: every request URL, dialogs, console errors and page errors."""

    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    expected_console: list[str] = field(default_factory=list)

    def assert_clean(self, origin: str) -> None:
        """Nothing left 127.0.0.1, nothing popped up, nothing failed or was blocked."""
        outside = [url for url in self.requests if not url.startswith(origin + "/")]
        assert outside == [], outside
        assert self.requests, "no request was recorded"
        assert self.dialogs == []
        assert self.page_errors == []
        unexpected = [
            text
            for text in self.console_errors
            if not any(part in text for part in self.expected_console)
        ]
        assert unexpected == []


@pytest.fixture
def watch() -> Watch:
    """The recorder the ``page`` fixture fills."""
    return Watch()


@pytest.fixture
def page(browser: Any, live: LiveServer, watch: Watch) -> Iterator[Any]:
    """A fresh browser context at 1440×900 whose traffic and errors are recorded."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script(FAST_REFRESH)
    context.on("request", lambda request: watch.requests.append(request.url))
    tab = context.new_page()
    tab.on("dialog", lambda dialog: (watch.dialogs.append(dialog.message), dialog.dismiss()))
    tab.on(
        "console",
        lambda message: (
            watch.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    tab.on("pageerror", lambda error: watch.page_errors.append(str(error)))
    tab.set_default_timeout(10_000)
    try:
        yield tab
        watch.assert_clean(live.origin)
    finally:
        context.close()
