"""A real app with the dashboard on either backend, plus helpers to read the Issues pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from bs4 import BeautifulSoup
from fastapi import FastAPI

from fastapi_flare import FlareConfig, setup
from fastapi_flare.grouping import issue_store
from fastapi_flare.grouping.store import IssueStore
from fastapi_flare.runtime import FlareRuntime
from fastapi_flare.schema import FlareLogEntry
from tests.grouping.conftest import Backend
from tests.helpers import client, lifespan, wait_until

HX = {"HX-Request": "true"}
SAME_ORIGIN = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}


@dataclass
class Site:
    """A running app: client, runtime and issue store."""

    app: FastAPI
    runtime: FlareRuntime
    http: httpx.AsyncClient
    issues: IssueStore

    async def add(self, entries: Iterable[FlareLogEntry]) -> None:
        """Write entries through the real storage, as the writer does."""
        await self.runtime.storage.save_logs(list(entries))

    async def soup(self, url: str, **kwargs: Any) -> BeautifulSoup:
        """GET a page and parse it; fails unless 200."""
        response = await self.http.get(url, **kwargs)
        assert response.status_code == 200, response.text[:500]
        return BeautifulSoup(response.text, "html.parser")

    async def token(self, url: str = "/flare/issues") -> str:
        """The CSRF token a page hands this browser (the client keeps the cookie)."""
        field = (await self.soup(url)).select_one("input[name=csrf_token]")
        assert field is not None, "no form on the page"
        return str(field["value"])

    async def post(
        self,
        fields: dict[str, Any] | list[tuple[str, str]],
        *,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST an action form the way a same-origin browser does."""
        return await self.http.post(
            "/flare/issues/actions", data=fields, headers={**SAME_ORIGIN, **(headers or {})}
        )


def build_app(backend: Backend, **options: Any) -> tuple[FastAPI, FlareRuntime]:
    """A host app with one failing route and the dashboard at /flare."""
    app = FastAPI()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    runtime = setup(app, FlareConfig(**backend.config(worker_interval_seconds=0.05, **options)))
    return app, runtime


@asynccontextmanager
async def running(app: FastAPI, runtime: FlareRuntime) -> AsyncIterator[Site]:
    """Run the lifespan and yield a client once storage is open."""
    store = issue_store(runtime.storage)
    assert store is not None
    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set, timeout=20)
        yield Site(app, runtime, http, store)


def rows(soup: BeautifulSoup) -> list[dict[str, str]]:
    """The Issues table as cell texts per row."""
    found = []
    for row in soup.select("#issues tbody tr[data-row]"):
        cells = row.find_all("td")
        found.append(
            {
                "fingerprint": str(row["data-fingerprint"]),
                "title": cells[1].select_one("a.row-link").get_text(strip=True),
                "event": row.select_one("[data-col=event]").get_text(strip=True),
                "level": row.select_one("[data-col=level]").get_text(strip=True),
                "count": row.select_one("[data-col=count]").get_text(strip=True),
                "ips": row.select_one("[data-col=ips]").get_text(strip=True),
                "status": row.select_one("[data-status]").get_text(strip=True),
            }
        )
    return found
