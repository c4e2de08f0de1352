"""Metrics: what ``record()`` costs per request, what a flush costs, how fast the view reads.

1. ``record()``: nanoseconds per call, in-process, for one hot route (the 200 benchmark's
   shape) and for a mix of 50 routes, statuses and latencies; a no-op sink measured the
   same way gives the cost of the call itself. Configurations are interleaved per round.
2. Flush: ``collect()`` for 50 routes × 2 methods, and adding that batch to the rollups.
3. Queries: the Metrics view (1 h, 24 h, 7 d) and the Errors view's cards on what
   retention keeps after ``--days`` of traffic on ``--routes`` routes × 2 methods, on
   SQLite and, when reachable, PostgreSQL.

    python -m benchmarks.bench_metrics [--rounds 5] [--calls 1000000] [--days 30]
        [--routes 50] [--no-postgres] [--quick] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.apps.report import (
    RESULTS_DIR,
    machine_info,
    machine_markdown,
    median,
    table,
    write_results,
)
from fastapi_flare.metrics import histogram
from fastapi_flare.metrics.aggregator import MetricsAggregator
from fastapi_flare.metrics.model import (
    ALL_METHODS,
    ALL_ROUTES,
    DAY,
    FIVE_MINUTES,
    HOUR,
    MINUTE,
    Batch,
    MetricRow,
)
from fastapi_flare.metrics.ranges import RANGES
from fastapi_flare.metrics.reader import MetricsReader
from fastapi_flare.metrics.store import MetricsStore, metrics_extension, store_for

PG_DSN = os.environ.get("FLARE_TEST_PG_DSN", "postgresql://root@127.0.0.1:5432/test")
Call = tuple[str | None, str, int, float]


def workloads(routes: int, size: int = 100_000) -> dict[str, list[Call]]:
    """Pre-built argument lists, so the loop measures ``record()`` and not random()."""
    rng = random.Random(42)
    names = [f"/api/v1/resource{n}/{{item_id}}" for n in range(routes)]
    mixed: list[Call] = []
    for _ in range(size):
        route: str | None = rng.choice(names) if rng.random() > 0.01 else None
        status = 500 if rng.random() < 0.01 else 404 if rng.random() < 0.05 else 200
        method = "POST" if rng.random() < 0.2 else "GET"
        mixed.append((route, method, status, rng.lognormvariate(-5.3, 0.8)))
    hot: list[Call] = [("/ok", "GET", 200, 0.00025 + (n % 7) * 0.00001) for n in range(size)]
    return {"hot": hot, "mixed": mixed}


class NoopSink:
    """The cheapest possible sink: what calling any ``record`` costs."""

    def record(self, route: str | None, method: str, status: int, duration_s: float) -> None:
        """Do nothing."""


def ns_per_call(
    record: Callable[[str | None, str, int, float], None], calls: list[Call], n: int
) -> float:
    """CPU nanoseconds per call over ``n`` calls (cycling through ``calls``).

    Process CPU time, not wall time: on a shared, busy machine the wall clock also
    counts the time other processes ran, which is not what ``record()`` costs.
    """
    loops, rest = divmod(n, len(calls))
    started = time.process_time_ns()
    for _ in range(loops):
        for route, method, status, seconds in calls:
            record(route, method, status, seconds)
    for route, method, status, seconds in calls[:rest]:
        record(route, method, status, seconds)
    return (time.process_time_ns() - started) / n


def bench_record(rounds: int, n: int, routes: int) -> dict[str, Any]:
    """Interleaved rounds: no-op sink, aggregator on the hot route, aggregator on the mix."""
    loads = workloads(routes)
    runs: dict[str, list[float]] = {"noop": [], "hot": [], "mixed": []}
    for _ in range(rounds):  # a fresh aggregator per run: every run starts cold alike
        runs["noop"].append(ns_per_call(NoopSink().record, loads["mixed"], n))
        for name in ("hot", "mixed"):
            runs[name].append(ns_per_call(MetricsAggregator(500).record, loads[name], n))
    med = {name: round(median(values), 1) for name, values in runs.items()}
    extra = {name: round(med[name] - med["noop"], 1) for name in ("hot", "mixed")}
    runs_ns = {k: [round(v, 1) for v in vs] for k, vs in runs.items()}
    return {"calls_per_run": n, "runs_ns": runs_ns, "median_ns": med, "record_minus_call_ns": extra}


def full_aggregator(routes: int) -> MetricsAggregator:
    """An aggregator with a busy minute: every route with GET and POST."""
    agg = MetricsAggregator(500)
    for route, method, status, seconds in workloads(routes, 20_000)["mixed"]:
        agg.record(route, method, status, seconds)
    return agg


def synthetic_rows(routes: int, days: int, now: int) -> list[MetricRow]:
    """What retention leaves after ``days`` of steady traffic on every route and method.

    Days for ``days``; all-routes hours for 9 days, 5 minutes for 48 h and minutes for
    2 h; per-route hours for 48 h and 5 minutes for 2 h (see ``ranges.USEFUL_SECONDS``).
    """
    rng = random.Random(7)
    templates = []
    for spread in range(16):
        counts = [0] * histogram.BIN_COUNT
        for _ in range(3000):
            counts[histogram.bin_index(rng.lognormvariate(-5 + spread * 0.1, 0.9))] += 1
        templates.append((sum(counts), *histogram.pack(counts)))
    keys = [(f"/api/v1/resource{n}/{{item_id}}", m) for n in range(routes) for m in ("GET", "POST")]
    total = [(ALL_ROUTES, ALL_METHODS)]

    def starts(resolution: int, seconds: int) -> range:
        last = now - now % resolution
        return range(last, last - min(seconds, days * DAY), -resolution)

    spans = [(DAY, s, keys + total) for s in starts(DAY, days * DAY + DAY)]
    spans += [(HOUR, s, total) for s in starts(HOUR, 9 * DAY)]
    spans += [(HOUR, s, keys) for s in starts(HOUR, 2 * DAY)]
    spans += [(FIVE_MINUTES, s, total) for s in starts(FIVE_MINUTES, 2 * DAY)]
    spans += [(FIVE_MINUTES, s, keys) for s in starts(FIVE_MINUTES, 2 * HOUR)]
    spans += [(MINUTE, s, total) for s in starts(MINUTE, 2 * HOUR)]
    rows: list[MetricRow] = []
    for resolution, start, span_keys in spans:
        for route, method in span_keys:
            n, offset, blob = rng.choice(templates)
            stats = (n, n - 60, 0, 50, 10, n * 0.02, 0.0004, 1.9)  # requests .. duration max
            rows.append(MetricRow(resolution, start, route, method, *stats, offset, blob))
    return rows


async def timed(coro_factory: Callable[[], Any], reps: int) -> dict[str, float]:
    """p50/p95 wall milliseconds of ``reps`` awaited calls, and their median process CPU time.

    CPU time covers this process's threads (SQLite's worker thread too, not the
    PostgreSQL server); it is what a call costs when the machine is not shared.
    """
    await coro_factory()  # warm-up
    wall, cpu = [], []
    for _ in range(reps):
        started, cpu_started = time.perf_counter(), time.process_time()
        await coro_factory()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    p95 = sorted(wall)[min(len(wall) - 1, int(0.95 * len(wall)))]
    p50, cpu_ms = statistics.median(wall), statistics.median(cpu)
    return {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "cpu_ms": round(cpu_ms, 2)}


async def bench_backend(name: str, storage: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Seed one backend, then time a flush and every query the dashboard makes."""
    storage.add_extension(metrics_extension(args.days + 1))
    await storage.open()
    try:
        store: MetricsStore = store_for(storage)
        now = int(time.time())
        rows = synthetic_rows(args.routes, args.days, now)
        writer, seqs = uuid.uuid4().hex[:16], itertools.count(1)
        started = time.perf_counter()
        for i in range(0, len(rows), 5000):
            await store.write(Batch(writer, next(seqs), rows[i : i + 5000], now))
        seed_s = time.perf_counter() - started
        busy = full_aggregator(args.routes).collect()
        assert busy is not None

        async def flush() -> None:
            assert busy is not None
            await store.write(Batch(writer, next(seqs), busy.rows, now))

        reader = MetricsReader(store)
        moment = datetime.fromtimestamp(now, UTC)
        queries = {
            f"overview {key}": await timed(lambda r=r: reader.overview(r, moment), args.reps)
            for key, r in RANGES.items()
        }
        queries["cards (24 h summary)"] = await timed(lambda: reader.summary(moment), args.reps)
        queries[f"flush: add a busy minute ({len(busy.rows)} rows)"] = await timed(flush, args.reps)
        return {"backend": name, "rows": len(rows), "seed_s": round(seed_s, 1), "queries": queries}
    finally:
        await storage.close()


async def bench_storage(args: argparse.Namespace) -> list[dict[str, Any]]:
    """SQLite always; PostgreSQL when reachable and not turned off."""
    from fastapi_flare.storage.sqlite import SqliteStorage

    results = []
    with tempfile.TemporaryDirectory() as folder:
        sqlite = SqliteStorage(str(Path(folder) / "metrics.db"), background_indexing=False)
        results.append(await bench_backend("sqlite", sqlite, args))
    if not args.no_postgres:
        import asyncpg

        from fastapi_flare.storage.postgres import PostgresStorage

        table = "flare_bench_" + uuid.uuid4().hex[:8]
        try:
            pg = PostgresStorage(PG_DSN, table_name=table, background_indexing=False)
            results.append(await bench_backend("postgresql", pg, args))
            conn = await asyncpg.connect(PG_DSN)
            tables = "SELECT tablename FROM pg_tables WHERE starts_with(tablename, $1)"
            for (name,) in await conn.fetch(tables, table):
                await conn.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')
            await conn.close()
        except Exception as exc:  # an unreachable server is reported, not fatal
            results.append({"backend": "postgresql", "skipped": str(exc)})
    return results


def render(data: dict[str, Any]) -> str:
    """The markdown report."""
    rec, settings = data["record"], data["settings"]
    med, extra = rec["median_ns"], rec["record_minus_call_ns"]
    workloads_rows = [
        ["no-op sink (the call itself)", med["noop"], "—"],
        ["aggregator, one hot route", med["hot"], extra["hot"]],
        [f"aggregator, {settings['routes']} routes mixed", med["mixed"], extra["mixed"]],
    ]
    lines = [
        "# Metrics",
        "",
        machine_markdown(data["machine"]),
        "",
        f"## `record()` per request ({rec['calls_per_run']:,} calls per run, "
        f"{settings['rounds']} interleaved rounds, medians of process CPU time)",
        "",
        table(["workload", "ns per call", "minus the bare call"], workloads_rows),
        "",
        f"Flush: `collect()` of a busy minute ({settings['routes']} routes × 2 methods) takes "
        f"{data['collect_us']} µs of CPU (median of {settings['reps']}).",
    ]
    for result in data["storage"]:
        if "skipped" in result:
            lines += ["", f"## {result['backend']}: skipped ({result['skipped']})"]
        else:
            lines += [
                "",
                f"## Queries on {result['backend']}: {settings['days']} days, "
                f"{settings['routes']} routes × 2 methods ({result['rows']:,} rollup rows)",
                "",
                table(
                    ["query", "p50 ms", "p95 ms", "CPU ms (median)"],
                    [
                        [q, v["p50_ms"], v["p95_ms"], v["cpu_ms"]]
                        for q, v in result["queries"].items()
                    ],
                ),
            ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the three parts and write ``metrics.md`` / ``metrics.json``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    for name, default in (("rounds", 5), ("calls", 1_000_000), ("days", 30), ("routes", 50)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--reps", type=int, default=30, help="calls per timed query")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--quick", action="store_true", help="tiny run that checks the harness")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.calls, args.days, args.routes, args.reps = 1, 20_000, 1, 5, 3
    record = bench_record(args.rounds, args.calls, args.routes)
    collect_samples = []
    for _ in range(args.reps):
        agg = full_aggregator(args.routes)  # a fresh busy minute each time
        started = time.process_time()
        agg.collect()
        collect_samples.append((time.process_time() - started) * 1e6)
    names = ("rounds", "calls", "days", "routes", "reps", "quick")
    data = {
        "machine": machine_info(),
        "settings": {name: getattr(args, name) for name in names},
        "record": record,
        "collect_us": round(median(collect_samples)),
        "storage": asyncio.run(bench_storage(args)),
    }
    write_results("metrics", data, render(data), args.out_dir)
    print(render(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
