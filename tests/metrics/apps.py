"""A host app for the metrics tests, with Flare on a SQLite file or a PostgreSQL table."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException

from fastapi_flare import FlareConfig, setup
from fastapi_flare.runtime import FlareRuntime
from tests.conftest import PG_DSN
from tests.metrics.conftest import Backend


def host_app() -> FastAPI:
    """Routes that succeed, fail with 404 and raise."""
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id == 999:
            raise HTTPException(status_code=404, detail="no such item")
        return {"item_id": item_id}

    @app.post("/orders")
    async def orders() -> dict[str, str]:
        return {"status": "created"}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def flare_app(backend: Backend, **options: Any) -> tuple[FastAPI, FlareRuntime]:
    """The host app with ``setup()`` on the backend's file or table."""
    app = host_app()
    if backend.name == "postgresql":
        options.update(storage_backend="postgresql", pg_dsn=PG_DSN, pg_table_name=backend.table)
    else:
        options.setdefault("sqlite_path", backend.path)
    options.setdefault("worker_interval_seconds", 0.05)
    return app, setup(app, FlareConfig(**options))
