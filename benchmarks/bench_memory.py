"""Memory: RSS after 1,000,000 captured errors, and queue memory per 100,000 pending entries.

The app is driven in-process by a minimal ASGI caller (no HTTP client cost), on
the real stack: capture middleware, bounded queue, writer into a SQLite file in a
temporary directory, retention on its default caps.

    python -m benchmarks.bench_memory [--entries 1000000] [--queue-fill 20000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from benchmarks.apps.asgi import get, lifespan, peak_rss_bytes, rss_bytes
from benchmarks.apps.memory_report import render
from benchmarks.apps.overhead_app import BOOM_PATH, MISSING_PATH, OK_PATH, build_app
from benchmarks.apps.report import RESULTS_DIR, machine_info, write_results

MB = 1024 * 1024
TARGET_GROWTH_MB = 30.0
PER = 100_000  # queue memory is quoted per this many pending entries


async def _wait_for(condition: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.002)


async def _drive(app: FastAPI, count: int, boom_every: int, offset: int = 0) -> None:
    """``count`` failing requests: every ``boom_every``-th a 500, the others 404s.

    The in-process caller is faster than any server would be; when the queue is
    half full it waits for the writer, so the run measures steady state, not drops.
    """
    queue = app.state.flare.queue
    high, low = queue.capacity // 2, queue.capacity // 10
    for i in range(offset, offset + count):
        await get(app, BOOM_PATH if i % boom_every == 0 else MISSING_PATH)
        if queue.depth >= high:
            await _wait_for(lambda: queue.depth <= low)
        elif i % 16 == 0:
            await asyncio.sleep(0)


def _drained(queue: Any) -> bool:
    """Everything accepted is written (the queue can be empty while a batch is in flight)."""
    return bool(queue.written == queue.accepted)


def _db_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("memory.db*"))


async def measure_rss(
    entries: int, warmup: int, samples: int, boom_every: int, tmp: Path
) -> dict[str, Any]:
    """RSS at start (after warm-up) and after ``entries`` captured errors."""
    app = build_app("flare", {"sqlite_path": str(tmp / "memory.db")})
    runtime = app.state.flare
    curve: list[dict[str, float]] = []
    async with lifespan(app):
        await _drive(app, warmup, boom_every)
        await _wait_for(lambda: _drained(runtime.queue))
        gc.collect()
        start_rss = rss_bytes()
        started = time.perf_counter()
        step = max(1, entries // samples)
        done = 0
        while done < entries:
            batch = min(step, entries - done)
            await _drive(app, batch, boom_every, warmup + done)
            done += batch
            curve.append({"errors": done, "rss_mb": round(rss_bytes() / MB, 1)})
            print(f"  {done:,} errors: RSS {curve[-1]['rss_mb']} MB", flush=True)
        elapsed = time.perf_counter() - started
        await _wait_for(lambda: _drained(runtime.queue))
        gc.collect()
        end_rss = rss_bytes()
        queue = runtime.queue
        counters = {"accepted": queue.accepted, "dropped": queue.dropped, "written": queue.written}
    growth = (end_rss - start_rss) / MB
    return {
        "entries": entries,
        "warmup": warmup,
        "boom_every": boom_every,
        "seconds": round(elapsed, 1),
        "errors_per_s": round(entries / elapsed),
        "rss_start_mb": round(start_rss / MB, 1),
        "rss_end_mb": round(end_rss / MB, 1),
        "rss_peak_mb": round(peak_rss_bytes() / MB, 1),
        "growth_mb": round(growth, 1),
        "target_mb": TARGET_GROWTH_MB,
        "target_met": growth <= TARGET_GROWTH_MB,
        "queue": counters,
        "db_mb": round(_db_bytes(tmp) / MB, 1),
        "curve": curve,
    }


def retained_bytes(objects: Iterable[object]) -> int:
    """Bytes held by ``objects`` and everything they reference, shared objects counted once."""
    seen: set[int] = set()
    total = 0
    stack = list(objects)
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack += obj.keys()
            stack += obj.values()
        elif isinstance(obj, list | tuple | set | frozenset | deque):
            stack += obj
        elif isinstance(obj, BaseModel):
            stack += (obj.__dict__, obj.__pydantic_fields_set__)
    return total


async def measure_queue(kind: str, fill: int, tmp: Path) -> dict[str, Any]:
    """Memory held by ``fill`` pending entries of one kind while storage is unreachable."""
    path = {"500": BOOM_PATH, "404": MISSING_PATH, "request": OK_PATH}[kind]
    # A directory is not a database: the writer cannot open storage and keeps
    # retrying, so every captured entry stays in the queue, as during an outage.
    overrides: dict[str, Any] = {
        "sqlite_path": str(tmp),
        "queue_max_size": fill,
        "metrics_enabled": False,
        "track_requests": kind == "request",
        "track_2xx_requests": kind == "request",
    }
    app = build_app("flare", overrides)
    queue = app.state.flare.queue
    # The writer's "storage unavailable" warnings are the expected state here.
    flare_logger = logging.getLogger("fastapi_flare")
    level, flare_logger.level = flare_logger.level, logging.CRITICAL
    await get(app, path)  # first request: lazy imports, route compilation
    queue.take(queue.depth)
    gc.collect()
    rss_before = rss_bytes()
    while queue.depth < fill:
        await get(app, path)
    gc.collect()
    rss_growth = rss_bytes() - rss_before
    pending = queue.depth
    # Everything the queue holds: the deque plus each entry and what only it references.
    retained = retained_bytes([deque(queue.take(pending))])
    await app.state.flare.worker.stop(timeout=0.1)
    flare_logger.setLevel(level)
    return {
        "kind": kind,
        "pending": pending,
        "bytes_per_entry": round(retained / pending),
        "mb_per_100k": round(retained / pending * PER / MB, 1),
        "rss_bytes_per_entry": round(rss_growth / pending),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description="RSS after many captured errors; queue memory.")
    parser.add_argument("--entries", type=int, default=1_000_000, help="captured errors (1e6)")
    parser.add_argument("--warmup", type=int, default=20_000, help="errors before the start RSS")
    parser.add_argument(
        "--boom-every", type=int, default=10, help="every Nth error is a 500 (10), others 404"
    )
    parser.add_argument(
        "--queue-fill", type=int, default=20_000, help="pending entries per kind (20000)"
    )
    parser.add_argument("--samples", type=int, default=20, help="RSS samples along the run")
    parser.add_argument("--quick", action="store_true", help="tiny numbers for a smoke test")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.quick:
        args.entries, args.warmup, args.queue_fill, args.samples = 1_000, 200, 200, 4
    return args


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Both measurements, each on a fresh app."""
    with tempfile.TemporaryDirectory(prefix="flare-mem-") as tmp_name:
        tmp = Path(tmp_name)
        print(f"RSS over {args.entries:,} captured errors", flush=True)
        rss = await measure_rss(args.entries, args.warmup, args.samples, args.boom_every, tmp)
        queue = []
        for kind in ("500", "404", "request"):
            fill_dir = tmp / f"queue-{kind}"
            fill_dir.mkdir()
            print(f"queue memory: {args.queue_fill:,} pending {kind} entries", flush=True)
            queue.append(await measure_queue(kind, args.queue_fill, fill_dir))
    return {"rss": rss, "queue": queue}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write ``memory.md`` / ``memory.json``."""
    args = parse_args(argv)
    results = asyncio.run(run(args))
    data = {
        "benchmark": "memory",
        "machine": machine_info(),
        "settings": {
            "entries": args.entries,
            "warmup": args.warmup,
            "queue_fill": args.queue_fill,
            "boom_every": args.boom_every,
            "quick": args.quick,
        },
        **results,
    }
    write_results("memory", data, render(data), args.out_dir)
    print(f"wrote {args.out_dir / 'memory.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
