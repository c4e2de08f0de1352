"""A real app with ``setup()`` on a temporary SQLite file, and helpers to seed and read it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI

from fastapi_flare import FlareConfig, setup
from fastapi_flare.runtime import FlareRuntime
from fastapi_flare.schema import FlareLogEntry, FlareRequestEntry
from tests.helpers import client, lifespan, wait_until

HX = {"HX-Request": "true"}
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@dataclass
class Dash:
    """A running app: its client, runtime and the dashboard path."""

    app: FastAPI
    runtime: FlareRuntime
    http: httpx.AsyncClient
    base: str

    async def get(self, path: str = "", **kwargs: Any) -> httpx.Response:
        """GET a dashboard URL (relative to the dashboard path)."""
        return await self.http.get(self.base + path, **kwargs)

    async def soup(self, path: str = "", **kwargs: Any) -> BeautifulSoup:
        """GET and parse; fails unless the status is 200."""
        response = await self.get(path, **kwargs)
        assert response.status_code == 200, response.text[:500]
        return BeautifulSoup(response.text, "html.parser")

    async def add_logs(self, entries: Iterable[FlareLogEntry]) -> None:
        """Write entries straight to the real storage, as the writer would."""
        await self.runtime.storage.save_logs(list(entries))

    async def add_requests(self, entries: Iterable[FlareRequestEntry]) -> None:
        """Write tracked requests straight to the real storage."""
        await self.runtime.storage.save_requests(list(entries))


def log(i: int, **fields: Any) -> FlareLogEntry:
    """Entry number ``i`` (later numbers are newer), ERROR unless told otherwise."""
    values: dict[str, Any] = {
        "timestamp": T0 + timedelta(seconds=i),
        "level": "ERROR",
        "event": "http_exception",
        "message": f"message {i}",
        "endpoint": f"/items/{i}",
        "http_method": "GET",
        "http_status": 500,
    }
    values.update(fields)
    return FlareLogEntry(**values)


def req(i: int, **fields: Any) -> FlareRequestEntry:
    """Tracked request number ``i`` (later numbers are newer)."""
    values: dict[str, Any] = {
        "timestamp": T0 + timedelta(seconds=i),
        "method": "GET",
        "path": f"/items/{i}",
        "route": "/items/{item_id}",
        "status": 404,
        "duration_ms": 3,
    }
    values.update(fields)
    return FlareRequestEntry(**values)


def build_app(tmp_path: Path, **options: Any) -> tuple[FastAPI, FlareRuntime]:
    """A FastAPI app with Flare on a fresh SQLite file; the worker flushes quickly."""
    app = FastAPI()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    options.setdefault("sqlite_path", str(tmp_path / "flare.db"))
    options.setdefault("worker_interval_seconds", 0.05)
    runtime = setup(app, FlareConfig(**options))
    return app, runtime


async def started(app: FastAPI, runtime: FlareRuntime, base: str) -> AsyncIterator[Dash]:
    """Run the app's lifespan, wait for storage, and yield a client for it."""
    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set, timeout=10)
        yield Dash(app, runtime, http, base)


@pytest.fixture
async def dash(tmp_path: Path) -> AsyncIterator[Dash]:
    """The dashboard of a fresh, empty app at /flare."""
    app, runtime = build_app(tmp_path)
    async for running in started(app, runtime, "/flare"):
        yield running


def texts(soup: BeautifulSoup, selector: str) -> list[str]:
    """Stripped text of every element matching ``selector``."""
    return [element.get_text(" ", strip=True) for element in soup.select(selector)]


def entry_ids(soup: BeautifulSoup) -> list[int]:
    """Row ids of the table, top to bottom."""
    return [int(str(row["data-entry-id"])) for row in soup.select("tr[data-row]")]
