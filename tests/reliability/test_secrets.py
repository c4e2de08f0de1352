"""Secrets never reach storage: planted everywhere, then searched for in the raw bytes.

Traffic carries unique secret strings in credential headers, query parameters,
JSON and form bodies and nested push_log contexts, with header and body capture
on. Afterwards the whole SQLite file (and its -wal and -shm) is read as bytes,
and every PostgreSQL table Flare made is dumped with ``row_to_json``: no secret
may appear anywhere, while the harmless values next to them are kept.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from fastapi_flare import FlareConfig, setup
from fastapi_flare.queue import push_log
from fastapi_flare.runtime import FlareRuntime
from tests.conftest import PG_DSN
from tests.core.conftest import build_host_app
from tests.helpers import client, lifespan, wait_until
from tests.reliability.pgcluster import drop_tables, unique_table
from tests.storage.conftest import require_pg

EXTRA_HEADER = "X-Internal-Ref"  # configured through redact_headers
EXTRA_FIELD = "ssn"  # configured through redact_fields
KEPT = "visible-" + uuid.uuid4().hex[:8]  # a harmless value that must stay readable


@dataclass
class Secrets:
    """Unique secret strings, one per place they are planted."""

    values: dict[str, str] = field(default_factory=dict)

    def __call__(self, where: str) -> str:
        value = f"S3CR3T{uuid.uuid4().hex}"
        self.values[where] = value
        return value


class Signup(BaseModel):
    """A route whose validation error mentions the password field."""

    email: str
    password: str = Field(max_length=20)


def secrets_app(config: FlareConfig) -> tuple[FastAPI, FlareRuntime]:
    """The core host app plus a signup route, with every capture option on."""
    app = build_host_app()

    @app.post("/signup")
    async def signup(form: Signup) -> dict[str, str]:
        return {"email": form.email}

    return app, setup(app, config)


def capture_everything(**options: Any) -> FlareConfig:
    """Headers and bodies captured, 2xx tracked, extra names masked."""
    return FlareConfig(
        capture_request_headers=True,
        capture_request_body=True,
        track_2xx_requests=True,
        redact_headers=[EXTRA_HEADER],
        redact_fields=[EXTRA_FIELD],
        **options,
    )


async def plant_everywhere(app: FastAPI, runtime: FlareRuntime, secret: Secrets) -> None:
    """Send traffic and push_log calls carrying a fresh secret in every place."""
    async with client(app) as http:
        headers = {
            "Authorization": f"Bearer {secret('authorization')}",
            "Cookie": f"session={secret('cookie')}; theme=dark",
            "X-API-Key": secret("x-api-key"),
            "Proxy-Authorization": f"Basic {secret('proxy-authorization')}",
            "X-Auth-Token": secret("x-auth-token"),
            "X-Refresh-Token": secret("x-refresh-token"),
            EXTRA_HEADER: secret("redact_headers"),
            "X-Trace": KEPT,
        }
        query = {
            "token": secret("query token"),
            "api_key": secret("query api_key"),
            "password": secret("query password"),
            "access_token": secret("query access_token"),
            "client_secret": secret("query client_secret"),
            EXTRA_FIELD: secret("query redact_fields"),
            "q": KEPT,
        }
        for path in ("/boom", "/items/999", "/ok", "/teapot"):
            response = await http.get(path, params=query, headers=headers)
            assert response.status_code in (200, 404, 418, 500)
        body = {
            "password": secret("json password"),
            "nested": {
                "client_secret": secret("json nested client_secret"),
                "list": [{"token": secret("json list token")}, {"Api-Key": secret("json Api-Key")}],
                EXTRA_FIELD: secret("json redact_fields"),
                "note": KEPT,
            },
        }
        response = await http.post("/fail-with-body", json=body, headers=headers)
        assert response.status_code == 500
        form = {
            "password": secret("form password"),
            "api_key": secret("form api_key"),
            EXTRA_FIELD: secret("form redact_fields"),
            "name": KEPT,
        }
        response = await http.post("/fail-with-body", data=form, headers=headers)
        assert response.status_code == 500
    context = {
        "user": {"credentials": {"password": secret("context password")}, "name": KEPT},
        "api_token": secret("context api_token"),
        "items": [{"secret": secret("context list secret")}],
        "deep": {"a": {"b": {"c": {"private_key": secret("context deep private_key")}}}},
        EXTRA_FIELD: secret("context redact_fields"),
    }
    assert await push_log(runtime.config, event="payment_failed", message="m", context=context)


def leaks(blob: bytes, secret: Secrets) -> list[str]:
    """Where each secret found in ``blob`` had been planted."""
    return sorted(where for where, value in secret.values.items() if value.encode() in blob)


def sqlite_bytes(db: Path) -> bytes:
    """The file, WAL and shared memory as stored on disk, plus every row of every table.

    The raw bytes catch leftovers in free pages and the WAL; the row dump catches
    values that SQLite split across overflow pages, which no byte search can see.
    """
    raw = b"".join(
        Path(f"{db}{suffix}").read_bytes()
        for suffix in ("", "-wal", "-shm")
        if Path(f"{db}{suffix}").exists()
    )
    with closing(sqlite3.connect(db)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [repr(row) for name in tables for row in conn.execute(f'SELECT * FROM "{name}"')]
    return raw + "\n".join(rows).encode("utf-8", "backslashreplace")


@pytest.fixture
async def pg_table() -> AsyncIterator[str]:
    """A fresh table name on the shared server; its tables dropped afterwards."""
    await require_pg()
    table = unique_table()
    yield table
    await drop_tables(PG_DSN, table)


async def pg_dump(table: str) -> bytes:
    """Every row of every table Flare made for ``table``, as JSON text."""
    import asyncpg

    conn = await asyncpg.connect(PG_DSN)
    try:
        names = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND (tablename = $1 OR starts_with(tablename, $2))",
            table,
            table + "_",
        )
        rows: list[str] = []
        for (name,) in names:
            rows += [r[0] for r in await conn.fetch(f'SELECT row_to_json(t)::text FROM "{name}" t')]
    finally:
        await conn.close()
    assert len(names) >= 2
    return "\n".join(rows).encode()


async def run_and_flush(app: FastAPI, runtime: FlareRuntime, secret: Secrets) -> None:
    """Plant the secrets and wait until everything is written; shut down cleanly."""
    async with lifespan(app):
        await wait_until(runtime.worker.storage_ready.is_set, timeout=15)
        await plant_everywhere(app, runtime, secret)
        queue = runtime.queue
        await wait_until(lambda: queue.depth == 0 and queue.written == queue.accepted)
    assert runtime.queue.written == 12  # 5 failures x (log + request) + 1 success + 1 push_log


async def test_no_secret_in_the_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "flare.db"
    app, runtime = secrets_app(capture_everything(sqlite_path=str(db)))
    secret = Secrets()
    await run_and_flush(app, runtime, secret)
    blob = sqlite_bytes(db)
    assert len(secret.values) == 26
    assert leaks(blob, secret) == []
    assert KEPT.encode() in blob  # masking is targeted, not everything


@pytest.mark.postgres
async def test_no_secret_in_any_postgres_table(tmp_path: Path, pg_table: str) -> None:
    app, runtime = secrets_app(
        capture_everything(storage_backend="postgresql", pg_dsn=PG_DSN, pg_table_name=pg_table)
    )
    secret = Secrets()
    await run_and_flush(app, runtime, secret)
    blob = await pg_dump(pg_table)
    assert leaks(blob, secret) == []
    assert KEPT.encode() in blob


async def _signup_too_short(http: Any, secret: Secrets) -> None:
    response = await http.post(
        "/signup", json={"email": "a@example.test", "password": secret("422 password")}
    )
    assert response.status_code == 422


async def _large_json_body(http: Any, secret: Secrets) -> None:
    body = {"password": secret("large JSON password"), "padding": "p" * 40_000}
    assert (await http.post("/fail-with-body", json=body)).status_code == 500


async def _json_sent_as_text(http: Any, secret: Secrets) -> None:
    raw = json.dumps({"password": secret("text/plain JSON password")})
    headers = {"content-type": "text/plain"}
    assert (await http.post("/fail-with-body", content=raw, headers=headers)).status_code == 500


async def _referer_with_token(http: Any, secret: Secrets) -> None:
    referer = f"https://app.example.test/reset?token={secret('Referer token')}"
    assert (await http.get("/boom", headers={"Referer": referer})).status_code == 500


EDGE_CASES = {
    "validation error on a password field": _signup_too_short,
    "JSON body larger than max_request_body_bytes": _large_json_body,
    "JSON body labelled text/plain": _json_sent_as_text,
    "token in the Referer's query string": _referer_with_token,
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
async def test_no_secret_in_edge_cases(tmp_path: Path, case: str) -> None:
    """Places a secret reaches storage through less obvious paths."""
    db = tmp_path / "flare.db"
    app, runtime = secrets_app(capture_everything(sqlite_path=str(db)))
    secret = Secrets()
    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set)
        await EDGE_CASES[case](http, secret)
        queue = runtime.queue
        await wait_until(lambda: queue.depth == 0 and queue.written == queue.accepted)
        assert queue.written >= 2
    assert leaks(sqlite_bytes(db), secret) == [], f"{case}: stored in clear"
