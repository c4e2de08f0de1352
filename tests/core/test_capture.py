"""Capture through a real ASGI stack into a real SQLite file."""

from __future__ import annotations

import contextlib
import gc
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from fastapi_flare import FlareConfig, setup
from fastapi_flare.capture.context import RequestContext
from fastapi_flare.capture.entries import EntryFactory
from fastapi_flare.runtime import FlareRuntime
from fastapi_flare.schema import FlareLogEntry, FlareRequestEntry
from fastapi_flare.setup import FlareSetupError
from tests.core.conftest import build_host_app, flushed, make_app, stored_logs, stored_requests
from tests.helpers import client, lifespan, wait_until


@pytest.fixture
async def running(
    host_app: tuple[FastAPI, FlareRuntime],
) -> AsyncIterator[tuple[FastAPI, FlareRuntime]]:
    app, runtime = host_app
    async with lifespan(app):
        yield app, runtime


async def test_unhandled_exception_is_an_error_with_stack_trace(
    running: tuple[FastAPI, FlareRuntime],
) -> None:
    app, runtime = running
    async with client(app) as http:
        response = await http.get("/boom", headers={"User-Agent": "pytest-agent"})
    assert response.status_code == 500
    await wait_until(flushed(runtime, 2))
    [entry] = await stored_logs(runtime)
    assert entry.level == "ERROR"
    assert entry.event == "unhandled_exception"
    assert entry.message == "kaboom"
    assert entry.error == "RuntimeError: kaboom"
    assert entry.stack_trace is not None
    assert "Traceback (most recent call last)" in entry.stack_trace
    assert 'raise RuntimeError("kaboom")' in entry.stack_trace
    assert entry.endpoint == "/boom"
    assert entry.route == "/boom"
    assert entry.http_method == "GET"
    assert entry.http_status == 500
    assert entry.ip_address == "127.0.0.1"
    assert entry.user_agent == "pytest-agent"
    assert entry.duration_ms is not None and entry.duration_ms >= 0
    assert entry.timestamp.tzinfo is not None and entry.timestamp.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - entry.timestamp).total_seconds()) < 30
    assert entry.request_id == response.headers["x-request-id"]
    assert entry.fingerprint
    [tracked] = await stored_requests(runtime)
    assert (tracked.method, tracked.path, tracked.status) == ("GET", "/boom", 500)


async def test_sync_route_exception_is_captured(running: tuple[FastAPI, FlareRuntime]) -> None:
    app, runtime = running
    async with client(app) as http:
        assert (await http.get("/sync-boom")).status_code == 500
    await wait_until(flushed(runtime, 2))
    [entry] = await stored_logs(runtime)
    assert entry.error == "ValueError: sync kaboom"


async def test_http_exception_is_a_warning_keyed_by_route_template(
    running: tuple[FastAPI, FlareRuntime],
) -> None:
    app, runtime = running
    async with client(app) as http:
        response = await http.get("/items/999")
    assert response.status_code == 404
    assert response.json() == {"detail": "Item 999 not found"}
    await wait_until(flushed(runtime, 2))
    [entry] = await stored_logs(runtime)
    assert entry.level == "WARNING"
    assert entry.event == "http_exception"
    assert entry.message == "Item 999 not found"
    assert entry.endpoint == "/items/999"
    assert entry.route == "/items/{item_id}"
    assert entry.http_status == 404
    assert entry.stack_trace is None


async def test_unmatched_path_404_is_captured_without_route(
    running: tuple[FastAPI, FlareRuntime],
) -> None:
    app, runtime = running
    async with client(app) as http:
        assert (await http.get("/wp-admin.php")).status_code == 404
    await wait_until(flushed(runtime, 2))
    [entry] = await stored_logs(runtime)
    assert (entry.level, entry.http_status, entry.route) == ("WARNING", 404, None)


async def test_validation_error_keeps_field_errors(running: tuple[FastAPI, FlareRuntime]) -> None:
    app, runtime = running
    async with client(app) as http:
        response = await http.post("/orders", json={"item": "pen", "quantity": "many"})
    assert response.status_code == 422
    await wait_until(flushed(runtime, 2))
    [entry] = await stored_logs(runtime)
    assert entry.level == "WARNING"
    assert entry.event == "validation_error"
    assert entry.context is not None
    [error] = entry.context["errors"]
    assert error["loc"] == ["body", "quantity"]
    assert error["type"] == "int_parsing"


async def test_host_handlers_headers_and_bodies_are_unchanged(
    running: tuple[FastAPI, FlareRuntime],
) -> None:
    app, runtime = running
    async with client(app) as http:
        teapot = await http.get("/teapot")
        secure = await http.get("/secure")
        slow = await http.get("/slow-down")
        custom = await http.get("/custom")
        ok = await http.get("/ok")
    assert (teapot.status_code, teapot.json(), teapot.headers["x-teapot"]) == (
        418,
        {"handled": "short and stout"},
        "yes",
    )
    assert secure.status_code == 401
    assert secure.headers["www-authenticate"] == 'Bearer realm="x"'
    assert (slow.status_code, slow.text, slow.headers["retry-after"]) == (429, "too many", "120")
    assert (custom.text, custom.headers["x-custom"]) == ("body stays", "kept")
    # The app's own X-Request-ID wins; Flare does not add a second one.
    assert custom.headers.get_list("x-request-id") == ["mine"]
    assert ok.json() == {"status": "ok"}
    await wait_until(flushed(runtime, 6))
    by_status = {entry.http_status: entry for entry in await stored_logs(runtime)}
    assert set(by_status) == {418, 401, 429}
    assert by_status[418].event == "handled_exception"
    assert (
        by_status[418].error is not None and "TeapotError: short and stout" in by_status[418].error
    )


async def test_request_id_is_kept_when_sane_and_replaced_otherwise(
    running: tuple[FastAPI, FlareRuntime],
) -> None:
    app, runtime = running
    async with client(app) as http:
        kept = await http.get("/items/999", headers={"X-Request-ID": "req-abc-123"})
        too_long = await http.get("/items/999", headers={"X-Request-ID": "x" * 129})
        unprintable = await http.get("/items/999", headers={"X-Request-ID": "bad\tid"})
        fresh = await http.get("/ok")
    assert kept.headers["x-request-id"] == "req-abc-123"
    for response in (too_long, unprintable, fresh):
        assert uuid.UUID(response.headers["x-request-id"]).version == 4
    await wait_until(flushed(runtime, 6))
    ids = {entry.request_id for entry in await stored_logs(runtime)}
    assert ids == {
        "req-abc-123",
        too_long.headers["x-request-id"],
        unprintable.headers["x-request-id"],
    }


async def test_dashboard_requests_are_not_captured(running: tuple[FastAPI, FlareRuntime]) -> None:
    app, runtime = running
    async with client(app) as http:
        await http.get("/flare")
        await http.get("/flare/does-not-exist")
        await http.get("/flarex")  # not the dashboard: a normal 404
    await wait_until(flushed(runtime, 2))
    assert [entry.endpoint for entry in await stored_logs(runtime)] == ["/flarex"]


async def test_forwarded_for_only_when_trusted(tmp_path: Path) -> None:
    for trusted, expected in ((False, "127.0.0.1"), (True, "203.0.113.9")):
        app, runtime = make_app(tmp_path / str(trusted), trust_forwarded_for=trusted)
        async with lifespan(app), client(app) as http:
            await http.get("/items/999", headers={"X-Forwarded-For": "203.0.113.9, 10.0.0.1"})
            await wait_until(flushed(runtime, 2))
            [entry] = await stored_logs(runtime)
            assert entry.ip_address == expected


async def test_2xx_requests_tracked_only_when_enabled(tmp_path: Path) -> None:
    app, runtime = make_app(tmp_path / "off")
    async with lifespan(app), client(app) as http:
        await http.get("/ok")
        await http.get("/items/999")
        await wait_until(flushed(runtime, 2))
        assert [r.status for r in await stored_requests(runtime)] == [404]
    app, runtime = make_app(tmp_path / "on", track_2xx_requests=True)
    async with lifespan(app), client(app) as http:
        await http.get("/ok")
        await http.get("/items/7")
        await wait_until(flushed(runtime, 2))
        assert sorted(r.path for r in await stored_requests(runtime)) == ["/items/7", "/ok"]
        assert {r.route for r in await stored_requests(runtime)} == {"/ok", "/items/{item_id}"}


async def test_track_requests_off_stores_no_requests(tmp_path: Path) -> None:
    app, runtime = make_app(tmp_path, track_requests=False)
    async with lifespan(app), client(app) as http:
        await http.get("/boom")
        await wait_until(flushed(runtime, 1))
        assert await stored_requests(runtime) == []
        assert len(await stored_logs(runtime)) == 1


async def test_headers_captured_with_credentials_masked(tmp_path: Path) -> None:
    app, runtime = make_app(tmp_path, capture_request_headers=True, redact_headers=["X-Tenant"])
    headers = {
        "Authorization": "Bearer sekrit-1",
        "Proxy-Authorization": "Basic sekrit-2",
        "Cookie": "session=sekrit-3",
        "X-API-Key": "sekrit-4",
        "X-Refresh-Token": "sekrit-5",
        "X-Client-Secret": "sekrit-6",
        "X-Db-Password": "sekrit-7",
        "X-Tenant": "sekrit-8",
        "Accept": "application/json",
    }
    async with lifespan(app), client(app) as http:
        await http.get("/items/999", headers=headers)
        await wait_until(flushed(runtime, 2))
        [tracked] = await stored_requests(runtime)
    assert tracked.headers is not None
    assert tracked.headers["accept"] == "application/json"
    for name in headers:
        if name != "Accept":
            assert tracked.headers[name.lower()] == "[redacted]", name
    assert "sekrit" not in str(tracked.headers)


async def test_headers_not_stored_by_default(running: tuple[FastAPI, FlareRuntime]) -> None:
    app, runtime = running
    async with client(app) as http:
        await http.get("/items/999", headers={"Authorization": "Bearer x"})
    await wait_until(flushed(runtime, 2))
    [tracked] = await stored_requests(runtime)
    assert tracked.headers is None


async def test_request_body_capture_masks_and_caps(tmp_path: Path) -> None:
    app, runtime = make_app(tmp_path, capture_request_body=True, max_request_body_bytes=1024)
    async with lifespan(app), client(app) as http:
        await http.post(
            "/fail-with-body", json={"user": "ann", "password": "hunter2", "card": {"token": "t0k"}}
        )
        await http.post("/fail-with-body", data={"name": "bob", "api_key": "k3y"})
        await http.post(
            "/fail-with-body",
            content=b"\xff\xfe\x00binary",
            headers={"Content-Type": "application/octet-stream"},
        )
        await http.post(
            "/fail-with-body",
            content=b"{" + b'"a":1,' * 1000 + b"}",
            headers={"Content-Type": "application/json"},
        )
        await wait_until(flushed(runtime, 8))
        logs = await stored_logs(runtime)
    bodies = [entry.request_body for entry in reversed(logs)]
    assert bodies[0] == {
        "content_type": "application/json",
        "size": bodies[0]["size"],
        "data": {"user": "ann", "password": "[redacted]", "card": {"token": "[redacted]"}},
    }
    assert bodies[1]["data"] == {"name": "bob", "api_key": "[redacted]"}
    assert bodies[2]["note"] == "binary body not stored"
    assert bodies[3]["truncated"] is True and bodies[3]["size"] == 1024
    assert "hunter2" not in str(bodies) and "k3y" not in str(bodies)


async def test_body_not_captured_by_default(running: tuple[FastAPI, FlareRuntime]) -> None:
    app, runtime = running
    async with client(app) as http:
        await http.post("/fail-with-body", json={"password": "hunter2"})
    await wait_until(flushed(runtime, 2))
    [entry] = await stored_logs(runtime)
    assert entry.request_body is None


async def test_secret_query_parameters_are_masked(running: tuple[FastAPI, FlareRuntime]) -> None:
    app, runtime = running
    async with client(app) as http:
        await http.get("/items/999?token=abc&page=2&api_key=zzz")
    await wait_until(flushed(runtime, 2))
    [entry] = await stored_logs(runtime)
    assert entry.context == {"query": "token=[redacted]&page=2&api_key=[redacted]"}


async def test_host_lifespan_still_runs(tmp_path: Path) -> None:
    from contextlib import asynccontextmanager

    events: list[str] = []

    @asynccontextmanager
    async def host_lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        events.append("startup")
        app.state.greeting = "hello"
        yield {"db": "connected"}
        events.append("shutdown")

    app = FastAPI(lifespan=host_lifespan)

    @app.get("/greet")
    async def greet() -> dict[str, str]:
        return {"greeting": app.state.greeting}

    setup(app, FlareConfig(sqlite_path=str(tmp_path / "f.db")))
    async with lifespan(app) as state:
        assert events == ["startup"]
        assert state == {"db": "connected"}  # the host's lifespan state reaches the server
        async with client(app) as http:
            assert (await http.get("/greet")).json() == {"greeting": "hello"}
    assert events == ["startup", "shutdown"]


def test_setup_twice_is_rejected(tmp_path: Path) -> None:
    app = build_host_app()
    config = FlareConfig(sqlite_path=str(tmp_path / "f.db"))
    setup(app, config)
    with pytest.raises(FlareSetupError, match="already called"):
        setup(app, FlareConfig(sqlite_path=str(tmp_path / "g.db")))
    with pytest.raises(FlareSetupError, match="already bound"):
        setup(build_host_app(), config)


async def test_works_without_lifespan(tmp_path: Path) -> None:
    """Servers run with lifespan off: the writer starts on the first request."""
    app, runtime = make_app(tmp_path)
    async with client(app) as http:
        await http.get("/boom")
        await wait_until(flushed(runtime, 2))
    assert len(await stored_logs(runtime)) == 1
    await runtime.stop()


async def test_sync_and_callable_exception_handlers_run_as_before(tmp_path: Path) -> None:
    """Flare wraps every handler; sync ones still run in the threadpool, objects still work."""
    app = FastAPI()
    handler_threads: list[str] = []

    def sync_handler(request: Request, exc: ValueError) -> PlainTextResponse:
        handler_threads.append(threading.current_thread().name)
        return PlainTextResponse(f"sync: {exc}", status_code=409)

    class AsyncCallableHandler:
        async def __call__(self, request: Request, exc: Exception) -> PlainTextResponse:
            return PlainTextResponse(f"object: {exc}", status_code=410)

    app.add_exception_handler(ValueError, sync_handler)  # type: ignore[arg-type]
    app.add_exception_handler(KeyError, AsyncCallableHandler())

    @app.get("/value")
    async def value() -> None:
        raise ValueError("bad value")

    @app.get("/key")
    async def key() -> None:
        raise KeyError("gone")

    runtime = setup(app, FlareConfig(sqlite_path=str(tmp_path / "flare.db")))
    async with lifespan(app), client(app) as http:
        sync_response = await http.get("/value")
        object_response = await http.get("/key")
        await wait_until(flushed(runtime, 4))
        by_status = {entry.http_status: entry for entry in await stored_logs(runtime)}
    assert (sync_response.status_code, sync_response.text) == (409, "sync: bad value")
    assert (object_response.status_code, object_response.text) == (410, "object: 'gone'")
    assert handler_threads and handler_threads[0] != threading.main_thread().name
    assert by_status[409].event == by_status[410].event == "handled_exception"
    assert by_status[409].error == "ValueError: bad value"
    assert by_status[410].error == "KeyError: 'gone'"


def test_captured_entries_report_every_field_set_and_stay_independent() -> None:
    """Entries share pydantic's "fields set" (all fields); changing one leaves the others."""
    factory = EntryFactory(FlareConfig(sqlite_path="unused.db"))

    def failed_request(path: str) -> RequestContext:
        scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}
        ctx = RequestContext(scope=scope, started_wall=0.0, started=0.0, request_id=path)
        ctx.duration_ms = 3
        return ctx

    first_ctx, second_ctx = failed_request("/a"), failed_request("/b")
    first, second = (
        factory.from_request(first_ctx, 404, None),
        factory.from_request(second_ctx, 500, None),
    )
    request = factory.request_entry(first_ctx, 404)
    assert first.model_fields_set == set(FlareLogEntry.model_fields)
    assert request.model_fields_set == set(FlareRequestEntry.model_fields)
    assert first.model_dump(exclude_unset=True) == first.model_dump()
    first.message = "changed"
    copied = second.model_copy(update={"event": "copied"})
    assert (first.message, second.message, copied.event) == (
        "changed",
        "500 Internal Server Error",
        "copied",
    )
    assert second.model_fields_set == copied.model_fields_set == set(FlareLogEntry.model_fields)


def test_new_request_ids_are_distinct_uuid4s() -> None:
    import uuid

    from fastapi_flare.capture.context import new_request_id

    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(value) for value in ids]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in parsed)
    assert all(str(u) == value for u, value in zip(parsed, ids, strict=True))


async def _call(app: FastAPI, path: str) -> None:
    """One GET straight through the ASGI interface, as a server would make it."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": [(b"host", b"test")],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80), "state": {}}  # fmt: skip
    with contextlib.suppress(Exception):  # an unhandled error reaches the server, as here
        await app(scope, receive, send)


async def _cyclic_garbage(app: FastAPI, path: str, requests: int = 50) -> int:
    """Objects that only the cyclic garbage collector could free after ``requests`` calls."""
    await _call(app, path)  # warm caches first
    gc.collect()
    gc.disable()
    try:
        for _ in range(requests):
            await _call(app, path)
        return gc.collect()
    finally:
        gc.enable()


@pytest.mark.parametrize("path", ["/ok", "/boom", "/items/999", "/teapot", "/nowhere"])
async def test_failed_requests_leave_no_reference_cycles(tmp_path: Path, path: str) -> None:
    # A traceback holds the frames it passed through: a reference to the exception
    # kept in one of them (or in the scope they hold) makes a cycle per failed request,
    # which costs the host app garbage-collector passes under load.
    bare = build_host_app()
    app, runtime = make_app(tmp_path)
    async with lifespan(bare), lifespan(app):
        baseline = await _cyclic_garbage(bare, path)
        with_flare = await _cyclic_garbage(app, path)
        await wait_until(lambda: runtime.queue.depth == 0)
    assert with_flare <= baseline, (with_flare, baseline)
