"""examples/example_postgres.py runs against the real server and stores what it captures."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

from fastapi_flare.schema import LogQuery, RequestQuery
from tests.conftest import PG_DSN
from tests.helpers import client, lifespan, wait_until
from tests.storage.conftest import Backend

pytestmark = pytest.mark.postgres

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "example_postgres.py"


async def test_example_captures_into_its_own_table(
    pg_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLARE_PG_DSN", PG_DSN)
    monkeypatch.setenv("FLARE_PG_TABLE_NAME", pg_backend.table)
    app: Any = runpy.run_path(str(EXAMPLE))["app"]
    async with lifespan(app), client(app) as http:
        assert (await http.get("/")).status_code == 200
        assert (await http.get("/items/1")).json() == {"item_id": 1}
        assert (await http.get("/items/999")).status_code == 404
        assert (await http.get("/boom")).status_code == 500
        runtime = app.state.flare
        storage = runtime.storage
        assert storage.backend_name == "postgresql"
        await wait_until(runtime.worker.storage_ready.is_set)

        async def stored() -> bool:
            logs = await storage.list_logs(LogQuery())
            requests = await storage.list_requests(RequestQuery())
            return len(logs.items) == 2 and len(requests.items) == 2

        await wait_until(stored)
        page = await storage.list_logs(LogQuery())
        assert [(e.level, e.event, e.http_status) for e in page.items] == [
            ("ERROR", "unhandled_exception", 500),
            ("WARNING", "http_exception", 404),
        ]
        assert "RuntimeError" in (page.items[0].stack_trace or "")
        requests = await storage.list_requests(RequestQuery())
        assert sorted(r.status for r in requests.items) == [404, 500]
        assert (await http.get("/flare")).status_code == 200


def test_example_explains_a_missing_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLARE_PG_DSN", raising=False)
    with pytest.raises(SystemExit, match="Set FLARE_PG_DSN"):
        runpy.run_path(str(EXAMPLE))
