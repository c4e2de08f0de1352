"""The apps under test: Flare's dashboard behind Zitadel, plus routes guarded by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import HTMLResponse

from fastapi_flare import setup
from fastapi_flare.auth import build_zitadel_auth
from fastapi_flare.config import FlareConfig
from tests.helpers import lifespan
from tests.zitadel.op import APP_ORIGIN, CLIENT_JWT, PROJECT_ID, REDIRECT_URI

SESSION_SECRET = "s" * 64


def zitadel_config(issuer: str, tmp_path: Path, **overrides: Any) -> FlareConfig:
    """Browser mode against ``issuer`` unless overridden (``zitadel_redirect_uri=None``: bearer)."""
    values: dict[str, Any] = {
        "sqlite_path": str(tmp_path / "flare.db"),
        "zitadel_domain": issuer,
        "zitadel_client_id": CLIENT_JWT,
        "zitadel_project_id": PROJECT_ID,
        "zitadel_redirect_uri": REDIRECT_URI,
        "zitadel_session_secret": SESSION_SECRET,
        **overrides,
    }
    return FlareConfig(**values)


def build_app(config: FlareConfig) -> FastAPI:
    """A host app with Flare set up: the real dashboard at /flare behind Zitadel."""
    app = FastAPI()

    @app.get("/")
    async def home() -> dict[str, str]:
        return {"status": "ok"}

    setup(app, config=config)
    return app


def guarded_app(config: FlareConfig) -> FastAPI:
    """The Zitadel router and dependency on routes of our own (for methods Flare lacks)."""
    app = FastAPI()
    auth = build_zitadel_auth(config)
    app.include_router(auth.router)
    router = APIRouter(dependencies=[Depends(auth.dependency)])

    @router.post("/flare/action")
    async def action() -> HTMLResponse:
        return HTMLResponse("done")

    app.include_router(router)
    return app


@asynccontextmanager
async def app_client(app: FastAPI, **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan; reach it in-process at APP_ORIGIN, the provider over loopback."""
    transport = httpx.ASGITransport(app=app)
    async with (
        lifespan(app),
        httpx.AsyncClient(mounts={APP_ORIGIN: transport}, base_url=APP_ORIGIN, **kwargs) as client,
    ):
        yield client
