"""Hostile input fuzzed with Hypothesis: push_log arguments, request bodies, headers, queries.

Oracles: ``push_log`` never raises (except ValueError for an unknown level) and
what it stores is capped, valid JSON; a host app with Flare answers every request
exactly like the same app without Flare; Flare logs no failure of its own; and
every stored context, body and header map is valid JSON within its cap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import pytest
from fastapi import FastAPI, Request
from hypothesis import given
from hypothesis import strategies as st

from fastapi_flare import FlareConfig, setup
from fastapi_flare.queue import push_log
from fastapi_flare.runtime import FlareRuntime
from fastapi_flare.schema import LEVELS, LogQuery
from tests.core.conftest import build_host_app
from tests.helpers import client, lifespan, wait_until
from tests.reliability.faults import record
from tests.reliability.hostile import (
    FUZZ,
    HOSTILE_TEXT,
    URL_TEXT,
    assert_json_capped,
    contexts,
    finite,
)

CAPS: dict[str, Any] = {
    "max_message_chars": 1_000,
    "max_stack_trace_chars": 4_000,
    "max_context_chars": 4_096,
    "max_request_body_bytes": 2_048,
}
# A failing example's repr may be large (megabyte strings); that is not the failure.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
MARKER_ROOM = 40  # "…[truncated N chars]"
JSON_COLUMNS = (
    ("flare_logs", "context"),
    ("flare_logs", "request_body"),
    ("flare_requests", "headers"),
)


class FlareFailures(logging.Handler):
    """Collects ERROR records Flare logs about itself (it must log none here)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def flare_failures() -> Iterator[FlareFailures]:
    """Attach the collector to the ``fastapi_flare`` logger for one test."""
    handler = FlareFailures()
    logger = logging.getLogger("fastapi_flare")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@dataclass
class Fuzzed:
    """A running app for one fuzz test, and how many examples ran."""

    app: FastAPI
    runtime: FlareRuntime
    http: httpx.AsyncClient
    db: Path
    bare: httpx.AsyncClient | None = None
    examples: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)

    def new_json_values(self) -> list[tuple[str, Any]]:
        """JSON columns of rows stored since the last call, parsed."""
        found: list[tuple[str, Any]] = []
        with closing(sqlite3.connect(self.db)) as conn:
            for table, column in JSON_COLUMNS:
                key = f"{table}.{column}"
                rows = conn.execute(
                    f"SELECT id, {column} FROM {table} WHERE id > ? ORDER BY id",
                    (self.seen.get(key, 0),),
                ).fetchall()
                for row_id, raw in rows:
                    self.seen[key] = row_id
                    if raw is not None:
                        found.append((key, json.loads(raw)))
        return found


def _upload_route(app: FastAPI) -> None:
    @app.post("/upload")
    async def upload(request: Request) -> None:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
        raise RuntimeError(f"upload of {received} bytes refused")


@pytest.fixture
async def fuzzed(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Fuzzed]:
    """The host app with every capture option on, beside the same app without Flare."""
    bare_app = build_host_app()
    _upload_route(bare_app)
    app = build_host_app()
    _upload_route(app)
    db = tmp_path / "flare.db"
    runtime = setup(
        app,
        FlareConfig(
            sqlite_path=str(db),
            capture_request_body=True,
            capture_request_headers=True,
            track_2xx_requests=True,
            queue_max_size=100_000,
            max_entries=100_000,
            request_max_entries=100_000,
            **CAPS,
        ),
    )
    async with lifespan(app), client(app) as http, client(bare_app) as bare:
        await wait_until(runtime.worker.storage_ready.is_set)
        running = Fuzzed(app, runtime, http, db, bare)
        yield running
    record(
        f"fuzz {request.node.name}",
        examples=running.examples,
        statuses=running.statuses,
        stored=runtime.queue.written,
        dropped=runtime.queue.dropped,
    )


# Mostly valid levels, so most examples reach storage; now and then an invalid one.
FUZZ_LEVELS = st.sampled_from([*LEVELS, *LEVELS, *LEVELS, *LEVELS, "error", "INFO", "", "\x00"])


@FUZZ
@given(
    level=FUZZ_LEVELS,
    event=HOSTILE_TEXT,
    message=HOSTILE_TEXT,
    context=contexts(),
    error=st.none() | HOSTILE_TEXT,
    stack_trace=st.none() | HOSTILE_TEXT,
    endpoint=st.none() | HOSTILE_TEXT,
    http_method=st.none() | HOSTILE_TEXT,
    # Past 64 bits the writer dies (test_out_of_range_status_does_not_stop_the_writer);
    # the range stops short of that so this fuzz keeps looking for other failures.
    http_status=st.none()
    | st.integers(-(2**62), 2**62)
    | st.sampled_from([0, 599, 2**31, 2**62])
    | HOSTILE_TEXT,
    fingerprint=st.none() | HOSTILE_TEXT,
)
async def test_push_log_survives_hostile_arguments(
    fuzzed: Fuzzed,
    flare_failures: FlareFailures,
    level: Any,
    event: Any,
    message: Any,
    context: Any,
    error: Any,
    stack_trace: Any,
    endpoint: Any,
    http_method: Any,
    http_status: Any,
    fingerprint: Any,
) -> None:
    fuzzed.examples += 1
    runtime = fuzzed.runtime
    queue = runtime.queue
    try:
        accepted = await push_log(
            runtime.config,
            level=level,
            event=event,
            message=message,
            context=context,
            error=error,
            stack_trace=stack_trace,
            endpoint=endpoint,
            http_method=http_method,
            http_status=http_status,
            fingerprint=fingerprint,
        )
    except ValueError:
        assert level not in LEVELS
        return
    assert accepted is True
    await wait_until(lambda: queue.written == queue.accepted and queue.depth == 0, timeout=10)
    assert not flare_failures.messages
    stored = (await runtime.storage.list_logs(LogQuery(limit=1))).items[0]
    assert stored.level == level
    assert len(stored.message) <= CAPS["max_message_chars"] + MARKER_ROOM
    assert stored.error is None or len(stored.error) <= CAPS["max_message_chars"] + MARKER_ROOM
    assert stored.stack_trace is None or (
        len(stored.stack_trace) <= CAPS["max_stack_trace_chars"] + MARKER_ROOM
    )
    assert_json_capped(stored.context, CAPS["max_context_chars"])
    assert finite(stored.context)


HEADER_NAMES = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,24}\Z").filter(
    # Names the transport itself sets or that change framing are not the app's input.
    lambda name: name.lower() not in ("host", "content-length", "transfer-encoding", "connection")
)
HEADER_VALUES = st.binary(max_size=300).map(
    lambda raw: raw.replace(b"\r", b" ").replace(b"\n", b" ").replace(b"\x00", b" ").strip()
)
CONTENT_TYPES = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=latin-1",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "application/octet-stream",
        "application/vnd.api+json",
        "\x7f;;=",
    ]
)
BODIES = st.one_of(
    st.binary(max_size=2_000),
    st.text(max_size=500).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.recursive(
        st.none() | st.integers() | st.text(max_size=20) | st.just("s3cr3t"),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.sampled_from(["a", "password", "token", "nested"]), children)
        ),
        max_leaves=12,
    ).map(lambda value: json.dumps(value).encode()),
    st.integers(1, 4).map(lambda n: b"password=hunter2&" * (10**n)),
    st.just(b"\xff\xfe\x00" * 5000),
)
KNOWN_PATHS = st.sampled_from(
    [
        "/ok",
        "/boom",
        "/items/999",
        "/items/1",
        "/items/abc",
        "/orders",
        "/fail-with-body",
        "/teapot",
        "/secure",
        "/slow-down",
        "/custom",
        "/upload",
    ]
)
# Printable ASCII only: a client cannot put control characters in a request line.
RANDOM_PATHS = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="?#"), max_size=30
).map(lambda s: "/" + s.lstrip("/"))
PATHS = st.one_of(KNOWN_PATHS, KNOWN_PATHS, KNOWN_PATHS, RANDOM_PATHS)
QUERIES = st.lists(st.tuples(URL_TEXT, URL_TEXT), max_size=5)


def comparable(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Status, body and headers, without the request id Flare adds."""
    headers = sorted((k, v) for k, v in response.headers.items() if k != "x-request-id")
    return response.status_code, response.content, headers


@FUZZ
@given(
    method=st.sampled_from(["GET", "GET", "GET", "POST", "POST", "POST", "PUT", "DELETE"]),
    path=PATHS,
    query=QUERIES,
    headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=6),
    content_type=CONTENT_TYPES,
    body=BODIES,
)
async def test_requests_answer_exactly_as_without_flare(
    fuzzed: Fuzzed,
    flare_failures: FlareFailures,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: list[tuple[str, bytes]],
    content_type: str | None,
    body: bytes,
) -> None:
    fuzzed.examples += 1
    assert fuzzed.bare is not None
    query_string = "&".join(
        quote_from_bytes(k.encode("utf-8", "surrogatepass"))
        + "="
        + quote_from_bytes(v.encode("utf-8", "surrogatepass"))
        for k, v in query
    )
    target = path + ("?" + query_string if query_string else "")
    raw_headers = [(name.encode(), value) for name, value in headers]
    if content_type is not None:
        raw_headers.append((b"content-type", content_type.encode("latin-1")))
    with_flare = await fuzzed.http.request(method, target, headers=raw_headers, content=body)
    without = await fuzzed.bare.request(method, target, headers=raw_headers, content=body)
    assert comparable(with_flare) == comparable(without)
    assert with_flare.headers.get("x-request-id")
    fuzzed.statuses[with_flare.status_code] = fuzzed.statuses.get(with_flare.status_code, 0) + 1
    queue = fuzzed.runtime.queue
    await wait_until(lambda: queue.written == queue.accepted and queue.depth == 0, timeout=10)
    assert not flare_failures.messages, flare_failures.messages
    for _column, value in fuzzed.new_json_values():
        assert_json_capped(value, CAPS["max_context_chars"])


async def test_50_mb_body_is_streamed_and_capped(
    fuzzed: Fuzzed, flare_failures: FlareFailures
) -> None:
    """capture_request_body on: a 50 MB upload streams through; Flare keeps a capped slice."""
    chunk = b"x" * (1 << 20)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(50):
            yield chunk

    tracemalloc.start()
    try:
        response = await fuzzed.http.post(
            "/upload", content=body(), headers={"content-type": "application/json"}
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    fuzzed.examples += 1
    assert response.status_code == 500
    # The app held one chunk at a time; nothing buffered the whole body.
    assert peak < 12 * (1 << 20), f"peak {peak / (1 << 20):.1f} MB while streaming 50 MB"
    queue = fuzzed.runtime.queue
    await wait_until(lambda: queue.written == queue.accepted and queue.depth == 0)
    entry = (await fuzzed.runtime.storage.list_logs(LogQuery(limit=1))).items[0]
    assert entry.error == "RuntimeError: upload of 52428800 bytes refused"
    assert entry.request_body is not None
    assert entry.request_body["truncated"] is True
    assert entry.request_body["size"] == CAPS["max_request_body_bytes"]
    assert_json_capped(entry.request_body, CAPS["max_context_chars"])
    assert not flare_failures.messages
    record(
        "50 MB streamed body", peak_mb=round(peak / (1 << 20), 1), stored_body=entry.request_body
    )


async def push_then_read_back(
    app: Any, runtime: Any, pushes: list[dict[str, Any]], written: int
) -> tuple[list[str], BaseException | None]:
    """push_log each set of arguments, let the writer work, read the stored events back.

    Also returns any error the app's lifespan raised: its shutdown must not fail either.
    """
    queue = runtime.queue
    stored: list[str] = []
    try:
        async with lifespan(app):
            await wait_until(runtime.worker.storage_ready.is_set)
            for arguments in pushes:
                assert await push_log(runtime.config, **arguments)
            with contextlib.suppress(AssertionError):
                await wait_until(lambda: queue.depth == 0 and queue.written >= written, timeout=3)
            stored = [e.event for e in (await runtime.storage.list_logs(LogQuery())).items]
    except Exception as exc:
        return stored, exc
    return stored, None


@pytest.mark.parametrize("status", [2**63, -(2**63) - 1, 10**20])
async def test_out_of_range_status_does_not_stop_the_writer(tmp_path: Path, status: int) -> None:
    """One odd push_log must not stop every later entry from being written."""
    app = build_host_app()
    runtime = setup(app, FlareConfig(sqlite_path=str(tmp_path / "flare.db")))
    pushes = [
        {"event": "odd", "message": "x", "http_status": status},
        {"event": "after", "message": "written after it"},
    ]
    stored, shutdown_error = await push_then_read_back(app, runtime, pushes, written=1)
    assert "after" in stored, (
        f"the entry after push_log(http_status={status}) was never written "
        f"(written={runtime.queue.written}, shutdown error: {shutdown_error!r})"
    )
    assert shutdown_error is None


async def test_an_entry_storage_rejects_does_not_stop_the_writer(tmp_path: Path) -> None:
    """A driver error that is not an outage (a value no column can hold) costs one entry."""
    app = build_host_app()
    runtime = setup(app, FlareConfig(sqlite_path=str(tmp_path / "flare.db")))
    original = runtime.storage.save_logs

    async def picky(entries: Any) -> None:
        if any(entry.event == "poison" for entry in entries):
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        await original(entries)

    runtime.storage.save_logs = picky  # type: ignore[method-assign]
    queue = runtime.queue
    pushes = [{"event": event, "message": "m"} for event in ("before", "poison", "after")]
    stored, shutdown_error = await push_then_read_back(app, runtime, pushes, written=2)
    assert sorted(stored) == ["after", "before"], (stored, shutdown_error)
    assert shutdown_error is None
    assert queue.written == 2 and queue.lost == 1
