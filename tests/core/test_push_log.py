"""push_log: manual entries with odd values, caps and clear errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from uuid import UUID

import pytest

from fastapi_flare import FlareConfig
from fastapi_flare.queue import push_log
from fastapi_flare.schema import FlareError
from tests.core.conftest import flushed, make_app, stored_logs
from tests.helpers import lifespan, wait_until


class Color(Enum):
    RED = "red"


@dataclass
class Point:
    x: int
    y: int


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


async def test_push_log_as_in_the_spec(tmp_path: Path) -> None:
    app, runtime = make_app(tmp_path)
    config = runtime.config
    async with lifespan(app):
        accepted = await push_log(
            config,
            level="ERROR",
            event="payment_failed",
            message="Stripe charge declined",
            context={"order_id": "ord_123", "amount": 2500},
        )
        assert accepted is True
        await wait_until(flushed(runtime, 1))
        [entry] = await stored_logs(runtime)
    assert (entry.level, entry.event, entry.message) == (
        "ERROR",
        "payment_failed",
        "Stripe charge declined",
    )
    assert entry.context == {"order_id": "ord_123", "amount": 2500}
    assert entry.fingerprint


async def test_odd_context_values_are_stored_safely(tmp_path: Path) -> None:
    app, runtime = make_app(tmp_path)
    cycle: dict[str, object] = {"name": "loop"}
    cycle["self"] = cycle
    deep: dict[str, object] = {}
    node = deep
    for _ in range(50):
        node["child"] = {}
        node = node["child"]  # type: ignore[assignment]
    context = {
        "when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "day": date(2026, 1, 2),
        "raw": b"\xff\xfe binary",
        "text_bytes": b"plain",
        "tags": {"b", "a"},
        "amount": Decimal("12.50"),
        "id": UUID("12345678-1234-5678-1234-567812345678"),
        "color": Color.RED,
        "point": Point(1, 2),
        "obj": Unprintable(),
        "cycle": cycle,
        "deep": deep,
        "nan": float("nan"),
        "nul": "a\x00b",
        "password": "hunter2",
        42: "int key",
    }
    async with lifespan(app):
        await push_log(
            runtime.config, level="WARNING", event="odd", message="odd values", context=context
        )
        await wait_until(flushed(runtime, 1))
        [entry] = await stored_logs(runtime)
    stored = entry.context
    assert stored is not None
    json.dumps(stored)  # valid JSON all the way down
    assert stored["when"] == "2026-01-02T03:04:05+00:00"
    assert stored["day"] == "2026-01-02"
    assert stored["raw"].startswith("<9 bytes: fffe")
    assert stored["text_bytes"] == "plain"
    assert stored["tags"] == ["a", "b"]
    assert stored["amount"] == "12.50"
    assert stored["id"] == "12345678-1234-5678-1234-567812345678"
    assert stored["color"] == "red"
    assert stored["point"] == {"x": 1, "y": 2}
    assert stored["obj"] == "<unrepresentable Unprintable>"
    assert stored["cycle"] == {"name": "loop", "self": "[cycle]"}
    assert "[max depth]" in json.dumps(stored["deep"])
    assert stored["nan"] == "nan"
    assert stored["nul"] == "a\\x00b"
    assert stored["password"] == "[redacted]"
    assert stored["42"] == "int key"


async def test_oversized_values_are_capped_with_a_marker(tmp_path: Path) -> None:
    app, runtime = make_app(
        tmp_path, max_message_chars=1000, max_stack_trace_chars=2000, max_context_chars=5000
    )
    async with lifespan(app):
        await push_log(
            runtime.config,
            event="big",
            message="m" * 2_000_000,
            stack_trace="s" * 100_000,
            context={f"k{n}": "v" * 100 for n in range(150)},
        )
        await wait_until(flushed(runtime, 1))
        [entry] = await stored_logs(runtime)
    assert entry.message == "m" * 1000 + "…[truncated 1999000 chars]"
    assert entry.stack_trace is not None and entry.stack_trace.endswith("…[truncated 98000 chars]")
    assert entry.context is not None and entry.context["_truncated"] is True
    assert len(json.dumps(entry.context)) < 5000


async def test_push_log_with_exception_keeps_its_trace(tmp_path: Path) -> None:
    app, runtime = make_app(tmp_path)
    try:
        raise KeyError("missing")
    except KeyError as exc:
        caught = exc
    async with lifespan(app):
        await push_log(
            runtime.config, event="lookup", message="lookup failed", exc=caught, fingerprint="mine"
        )
        await wait_until(flushed(runtime, 1))
        [entry] = await stored_logs(runtime)
    assert entry.error == "KeyError: 'missing'"
    assert entry.stack_trace is not None and "KeyError" in entry.stack_trace
    assert entry.fingerprint == "mine"


async def test_push_log_needs_a_config_bound_by_setup() -> None:
    with pytest.raises(FlareError, match="passed to setup"):
        await push_log(FlareConfig(), event="x", message="y")


async def test_push_log_rejects_unknown_level(tmp_path: Path) -> None:
    _, runtime = make_app(tmp_path)
    with pytest.raises(ValueError, match="ERROR, WARNING"):
        await push_log(runtime.config, level="DEBUG", event="x", message="y")  # type: ignore[arg-type]


async def test_push_log_when_queue_full_returns_false_and_counts(tmp_path: Path) -> None:
    _, runtime = make_app(tmp_path, queue_max_size=2)
    results = [await push_log(runtime.config, event="x", message=str(n)) for n in range(4)]
    assert results == [True, True, False, False]
    assert runtime.queue.dropped == 2
