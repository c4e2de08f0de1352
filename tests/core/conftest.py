"""A host app with routes that succeed, fail and customise their responses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from fastapi_flare import FlareConfig, setup
from fastapi_flare.runtime import FlareRuntime
from fastapi_flare.schema import FlareLogEntry, FlareRequestEntry, LogQuery, RequestQuery


class TeapotError(Exception):
    """Handled by the host app's own exception handler."""


class Order(BaseModel):
    item: str
    quantity: int


def build_host_app() -> FastAPI:
    """The host app, before Flare: its own handlers, headers and routes."""
    app = FastAPI()

    @app.exception_handler(TeapotError)
    async def teapot_handler(request: Request, exc: TeapotError) -> JSONResponse:
        return JSONResponse({"handled": str(exc)}, status_code=418, headers={"X-Teapot": "yes"})

    @app.get("/ok")
    async def ok() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    @app.get("/sync-boom")
    def sync_boom() -> None:
        raise ValueError("sync kaboom")

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id == 999:
            raise HTTPException(status_code=404, detail=f"Item {item_id} not found")
        return {"item_id": item_id}

    @app.get("/secure")
    async def secure() -> None:
        raise HTTPException(
            status_code=401, detail="Unauthorized", headers={"WWW-Authenticate": 'Bearer realm="x"'}
        )

    @app.get("/slow-down")
    async def slow_down() -> PlainTextResponse:
        return PlainTextResponse("too many", status_code=429, headers={"Retry-After": "120"})

    @app.get("/teapot")
    async def teapot() -> None:
        raise TeapotError("short and stout")

    @app.get("/custom")
    async def custom() -> PlainTextResponse:
        return PlainTextResponse("body stays", headers={"X-Custom": "kept", "X-Request-ID": "mine"})

    @app.post("/orders")
    async def orders(order: Order) -> dict[str, Any]:
        return order.model_dump()

    @app.post("/fail-with-body")
    async def fail_with_body(request: Request) -> None:
        await request.body()
        raise RuntimeError("failed after reading the body")

    return app


def make_app(tmp_path: Path, **options: Any) -> tuple[FastAPI, FlareRuntime]:
    """Host app plus Flare on a fresh SQLite file."""
    app = build_host_app()
    options.setdefault("sqlite_path", str(tmp_path / "flare.db"))
    runtime = setup(app, FlareConfig(**options))
    return app, runtime


async def stored_logs(runtime: FlareRuntime) -> list[FlareLogEntry]:
    """Every stored log entry, newest first (walks all pages)."""
    items: list[FlareLogEntry] = []
    cursor: int | None = None
    while True:
        page = await runtime.storage.list_logs(LogQuery(limit=500, before_id=cursor))
        items.extend(page.items)
        if page.older_cursor is None:
            return items
        cursor = page.older_cursor


async def stored_requests(runtime: FlareRuntime) -> list[FlareRequestEntry]:
    """Every stored request entry, newest first (walks all pages)."""
    items: list[FlareRequestEntry] = []
    cursor: int | None = None
    while True:
        page = await runtime.storage.list_requests(RequestQuery(limit=500, before_id=cursor))
        items.extend(page.items)
        if page.older_cursor is None:
            return items
        cursor = page.older_cursor


def flushed(runtime: FlareRuntime, expected: int) -> Any:
    """Condition: ``expected`` entries written and none waiting."""
    return lambda: runtime.queue.written >= expected and runtime.queue.depth == 0


@pytest.fixture
def host_app(tmp_path: Path) -> tuple[FastAPI, FlareRuntime]:
    """Default-config app on a temporary SQLite file."""
    return make_app(tmp_path)
