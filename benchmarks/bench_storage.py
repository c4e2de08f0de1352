"""Storage benchmark: ingest rate and dashboard queries at 1,000,000 rows, SQLite and PostgreSQL.

    python -m benchmarks.bench_storage                    # 1,000,000 logs + 1,000,000 requests
    python -m benchmarks.bench_storage --quick            # seconds: checks the harness only
    python -m benchmarks.bench_storage --rows 200000 --backends sqlite

Per backend: seed ``--rows`` log entries and ``--rows`` tracked requests through the
storage's own ``save_logs``/``save_requests`` (big batches), build the search index,
then time every dashboard query ``--runs`` times (p50/p95), then measure the writer's
ingest rate with ``save_logs`` batches while the background search indexer runs.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
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
from fastapi_flare.grouping import install_grouping
from fastapi_flare.schema import (
    FlareLogEntry,
    FlareRequestEntry,
    LogQuery,
    RequestQuery,
    StorageError,
)

DEFAULT_PG_DSN = "postgresql://root@127.0.0.1:5432/test"
TARGET_MS, SEARCH_TARGET_MS = 50.0, 150.0
INGEST_TARGETS = {"sqlite": 50_000, "postgresql": 30_000}
SEED_BATCH = 5_000
EVENTS = ["http_exception"] * 14 + ["unhandled_exception"] * 4 + ["validation_error"]
EVENTS += ["payment_failed", "email_bounced", "job_failed", "webhook_rejected"]
WORDS = ["order", "cart", "payment", "user", "invoice", "stock", "shipping", "email", "token"]
TRACE = "".join(
    f'  File "/srv/app/{m}.py", line {n}, in handle_{m}\n    result = await {m}.run(ctx)\n'
    for n, m in enumerate(["routes", "service", "repository", "db", "pool", "driver"] * 3)
)
NOW = datetime.now(UTC)
# Capture fills a 32-hex fingerprint on every entry; a few hundred distinct issues.
FINGERPRINTS = [hashlib.sha256(str(n).encode()).hexdigest()[:32] for n in range(300)]


def fake_log(i: int, rows: int, rng: random.Random) -> FlareLogEntry:
    """One realistic entry; ids grow with time over the last seven days."""
    at = NOW - timedelta(days=7) * (1 - i / rows)
    event = rng.choice(EVENTS)
    item = rng.randrange(100_000)
    if event == "http_exception":
        return FlareLogEntry.model_construct(
            timestamp=at, level="WARNING", event=event, message=f"Item {item} not found",
            endpoint=f"/items/{item}", route="/items/{item_id}", http_method="GET",
            http_status=404, ip_address="10.0.0.7", duration_ms=3, request_id=uuid.uuid4().hex,
            error=None, stack_trace=None, context=None, request_body=None, user_agent="curl/8",
            fingerprint=FINGERPRINTS[0],
        )  # fmt: skip
    word = rng.choice(WORDS)
    message = f"{word} {rng.choice(WORDS)} failed: timeout after 30s (ord_{item})"
    return FlareLogEntry.model_construct(
        timestamp=at, level="ERROR", event=event, message=message,
        endpoint=f"/api/{word}/{item}", route=f"/api/{word}/{{id}}", http_method="POST",
        http_status=500, ip_address="10.0.0.9", duration_ms=rng.randrange(5, 900),
        request_id=uuid.uuid4().hex, error=f"RuntimeError: {message}",
        stack_trace="Traceback (most recent call last):\n" + TRACE, user_agent="httpx/0.28",
        context={"order_id": f"ord_{item}", "attempt": rng.randrange(1, 4)}, request_body=None,
        fingerprint=rng.choice(FINGERPRINTS),
    )  # fmt: skip


def fake_request(i: int, rows: int, rng: random.Random) -> FlareRequestEntry:
    """One tracked request: mostly 2xx/4xx, some 5xx, a few methods and paths."""
    at = NOW - timedelta(days=7) * (1 - i / rows)
    user = rng.randrange(50_000)
    path = rng.choice([f"/items/{user}", f"/users/{user}/orders", f"/api/cart/{user}"])
    return FlareRequestEntry.model_construct(
        timestamp=at, method=rng.choice(["GET"] * 6 + ["POST", "POST", "PUT", "DELETE"]),
        path=path, route=None, status=rng.choice([200] * 5 + [404] * 3 + [422, 500]),
        duration_ms=rng.randrange(1, 300), request_id=None, ip_address="10.0.0.3",
        user_agent="curl/8", headers={"accept": "*/*"},
    )  # fmt: skip


def chunks(rows: int, make: Callable[[int, int, random.Random], Any]) -> Iterator[list[Any]]:
    """Seed batches, deterministic for a given row count."""
    rng = random.Random(rows)
    for start in range(0, rows, SEED_BATCH):
        yield [make(i, rows, rng) for i in range(start, min(start + SEED_BATCH, rows))]


def make_storage(
    backend: str, where: str, pg_dsn: str, indexing: bool, grouping: bool = False
) -> Any:
    """An unopened storage on the benchmark's file or table.

    ``grouping`` adds the issue tables and write hooks, as ``setup(app)`` does.
    """
    storage: Any
    if backend == "postgresql":
        from fastapi_flare.storage.postgres import PostgresStorage

        storage = PostgresStorage(pg_dsn, table_name=where, background_indexing=indexing)
    else:
        from fastapi_flare.storage.sqlite import SqliteStorage

        storage = SqliteStorage(where, background_indexing=indexing)
    if grouping:
        install_grouping(storage)
    return storage


async def seed(storage: Any, rows: int) -> dict[str, float]:
    """Bulk-load logs and requests, then index them; returns the phase timings."""
    timings: dict[str, float] = {}
    for name, make, save in (
        ("logs", fake_log, storage.save_logs),
        ("requests", fake_request, storage.save_requests),
    ):
        started = time.perf_counter()
        for batch in chunks(rows, make):
            await save(batch)
        timings[f"seed_{name}_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    indexed = await storage.build_search_index()
    seconds = time.perf_counter() - started
    timings["index_build_s"] = round(seconds, 1)
    timings["index_rows_per_s"] = round(indexed / seconds) if seconds else 0
    return timings


Call = Callable[[Any], Awaitable[Any]]


def logs(**query: Any) -> Call:
    """A ``list_logs`` call with these filters."""
    return lambda s: s.list_logs(LogQuery(**query))


def requests(**query: Any) -> Call:
    """A ``list_requests`` call with these filters."""
    return lambda s: s.list_requests(RequestQuery(**query))


def queries(rows: int) -> list[tuple[str, float, Call]]:
    """(name, target ms, call) for every dashboard read."""
    rng = random.Random(7)
    ids = [rng.randrange(1, rows + 1) for _ in range(1000)]
    deep, hour_ago = max(rows // 2, 2), NOW - timedelta(hours=1)
    search = SEARCH_TARGET_MS
    return [
        ("first page", TARGET_MS, logs()),
        ("level ERROR page", TARGET_MS, logs(level="ERROR")),
        ("event page (payment_failed)", TARGET_MS, logs(event="payment_failed")),
        ("last hour page", TARGET_MS, logs(since=hour_ago)),
        ("issue page (fingerprint)", TARGET_MS, logs(fingerprint=FINGERPRINTS[7])),
        ("deep keyset page (middle)", TARGET_MS, logs(before_id=deep)),
        ("deep keyset page (oldest)", TARGET_MS, logs(before_id=60)),
        ("newer page (after_id)", TARGET_MS, logs(after_id=deep)),
        ("search common ('timeout')", search, logs(search="timeout")),
        ("search rare ('ord_4242)')", search, logs(search="ord_4242)")),
        ("search absent", search, logs(search="no such text")),
        (
            "search + level, deep page",
            search,
            logs(search="payment", level="ERROR", before_id=deep),
        ),
        ("stats cards", TARGET_MS, lambda s: s.stats(NOW)),
        ("event list", TARGET_MS, lambda s: s.list_events()),
        ("get_log detail", TARGET_MS, lambda s: s.get_log(str(rng.choice(ids)))),
        ("requests page", TARGET_MS, requests()),
        ("requests 5xx + POST", TARGET_MS, requests(status_class=5, method="POST")),
        ("requests path search", search, requests(search="/users/4242/")),
        ("get_request detail", TARGET_MS, lambda s: s.get_request(str(rng.choice(ids)))),
        ("storage overview", TARGET_MS, lambda s: s.overview()),
        # The worker runs this every interval: nothing is old or over the caps here.
        (
            "retention pass, under the caps",
            TARGET_MS,
            lambda s: s.prune(
                older_than=NOW - timedelta(days=3650), max_entries=2 * rows, max_requests=2 * rows
            ),
        ),
    ]


def p95(values: list[float]) -> float:
    """95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


class ViewFailed(Exception):
    """A dashboard view answered with something else than 200."""


def views(rows: int) -> list[tuple[str, float, Call]]:
    """(name, target ms, call) for the dashboard's own routes, rendering included.

    Each call gets an httpx client on the app; htmx requests ask for one block,
    as the browser does when a filter changes or the cards refresh.
    """
    rng = random.Random(11)
    ids = [rng.randrange(1, rows + 1) for _ in range(1000)]

    def get(path: str, target: str | None = None) -> Call:
        headers = {"HX-Request": "true", "HX-Target": target} if target else {}

        async def call(http: Any) -> None:
            url = path.format(id=rng.choice(ids))
            response = await http.get(url, headers=headers)
            if response.status_code != 200:
                raise ViewFailed(f"GET {url}: {response.status_code}")

        return call

    search = SEARCH_TARGET_MS
    return [
        ("Errors page, full", TARGET_MS, get("/flare")),
        ("results fragment", TARGET_MS, get("/flare", "results")),
        ("results, level ERROR", TARGET_MS, get("/flare?level=ERROR", "results")),
        ("results, event + 24 h", TARGET_MS,
         get("/flare?event=payment_failed&range=24h", "results")),
        ("results, search 'timeout'", search, get("/flare?q=timeout", "results")),
        ("results, search rare", search, get("/flare?q=ord_4242%29", "results")),
        ("stats cards fragment", TARGET_MS, get("/flare", "cards")),
        ("storage panel fragment", TARGET_MS, get("/flare", "storage")),
        ("detail modal", TARGET_MS, get("/flare/logs/{id}", "modal")),
        ("detail page (deep link)", TARGET_MS, get("/flare/logs/{id}")),
        ("Requests page, full", TARGET_MS, get("/flare/requests")),
        ("requests, 5xx + path search", search,
         get("/flare/requests?status=5xx&q=%2Fusers%2F4242%2F")),
        ("request detail", TARGET_MS, get("/flare/requests/{id}", "modal")),
        # 300 issues; the first fingerprint holds ~60 % of the rows, the eighth ~0.1 %.
        ("Issues page, full", TARGET_MS, get("/flare/issues")),
        ("issues list fragment", TARGET_MS, get("/flare/issues", "issues")),
        ("issues list, by count, search", TARGET_MS,
         get("/flare/issues?sort=count&q=timeout", "issues")),
        ("issue page, largest issue", TARGET_MS, get(f"/flare/issues/{FINGERPRINTS[0]}")),
        ("issue page, small issue", TARGET_MS, get(f"/flare/issues/{FINGERPRINTS[7]}")),
        ("issue occurrences, next page", TARGET_MS,
         get(f"/flare/issues/{FINGERPRINTS[0]}?before={rows // 2}", "occurrences")),
    ]  # fmt: skip


async def time_views(backend: str, where: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Time the dashboard routes of an app set up on the seeded file or table."""
    import httpx
    from fastapi import FastAPI

    from fastapi_flare import FlareConfig, setup

    if backend == "postgresql":
        options: dict[str, Any] = {"storage_backend": "postgresql", "pg_dsn": args.pg_dsn,
                                   "pg_table_name": where}  # fmt: skip
    else:
        options = {"sqlite_path": where}
    # Retention must keep every seeded row (the defaults would prune to 10,000 and 1,000).
    keep = {"max_entries": args.rows * 2, "request_max_entries": args.rows * 2,
            "retention_hours": 24 * 365}  # fmt: skip
    app = FastAPI()
    runtime = setup(app, FlareConfig(**options, **keep))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http,
    ):
        await asyncio.wait_for(runtime.worker.storage_ready.wait(), 60)
        first = await http.get("/flare")
        if "data-row" not in first.text:  # timing an empty or failing page would prove nothing
            raise ViewFailed("the Errors page shows no rows")
        return await time_plan(views(args.rows), http, args.runs)


async def time_queries(storage: Any, rows: int, runs: int) -> list[dict[str, Any]]:
    """Every storage query of the dashboard, timed (see ``time_plan``)."""
    return await time_plan(queries(rows), storage, runs)


async def time_plan(
    plan: list[tuple[str, float, Call]], subject: Any, runs: int
) -> list[dict[str, Any]]:
    """Every call ``runs`` times after two warm-ups, interleaved round by round.

    A call that fails (e.g. hits the command timeout) is reported as failed
    with its error instead of stopping the benchmark.
    """
    samples: dict[str, list[float]] = {name: [] for name, _, _ in plan}
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in plan}
    errors: dict[str, str] = {}
    for round_no in range(runs + 2):
        for name, _, call in plan:
            if name in errors:
                continue
            started, cpu_started = time.perf_counter(), time.process_time()
            try:
                await call(subject)
            except (StorageError, ViewFailed) as exc:
                errors[name] = str(exc)
                continue
            if round_no >= 2:
                samples[name].append((time.perf_counter() - started) * 1000)
                cpu[name].append((time.process_time() - cpu_started) * 1000)
    results = []
    for name, target, _ in plan:
        values = samples[name] or [float("inf")]
        q95 = p95(values)
        results.append(
            {"query": name, "p50_ms": round(median(values), 2), "p95_ms": round(q95, 2),
             "cpu_p50_ms": round(median(cpu[name]), 2),
             "max_ms": round(max(values), 2), "target_ms": target, "met": q95 < target,
             "error": errors.get(name), "runs_ms": [round(v, 3) for v in samples[name]]}
        )  # fmt: skip
    return results


async def ingest(storage: Any, entries: int, batch: int) -> dict[str, Any]:
    """Sequential ``save_logs`` batches, as the writer issues them; entries per second."""
    rng = random.Random(batch)
    prepared = [
        FlareLogEntry.model_validate(fake_log(i, entries, rng).model_dump()) for i in range(entries)
    ]
    batches = [prepared[i : i + batch] for i in range(0, entries, batch)]
    started, cpu_started = time.perf_counter(), time.process_time()
    for chunk in batches:
        await storage.save_logs(chunk)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return {"batch": batch, "entries": entries, "seconds": round(seconds, 2),
            "per_second": round(entries / seconds),
            "cpu_us_per_entry": round(cpu / entries * 1e6, 1)}  # fmt: skip


async def drop_pg_tables(dsn: str, base: str) -> None:
    """Drop the benchmark's table and every table named after it (features add their own)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        names = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND (tablename = $1 OR starts_with(tablename, $1 || '_'))",
            base,
        )
        for (name,) in names:
            await conn.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


async def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Seed, time the dashboard, measure ingest; always cleans up its file or tables."""
    where = (
        str(workdir / "bench.db") if backend == "sqlite" else "flare_bench_" + uuid.uuid4().hex[:8]
    )
    load_before = os.getloadavg()[0]
    storage = make_storage(backend, where, args.pg_dsn, indexing=False, grouping=True)
    await storage.open()
    try:
        # No ANALYZE on PostgreSQL: this server runs without autovacuum, and the
        # queries must not depend on fresh statistics.
        phases = await seed(storage, args.rows)
        overview = await storage.overview()
        results = await time_queries(storage, args.rows, args.runs)
        view_results = await time_views(backend, where, args)
        await storage.close()
        storage = make_storage(backend, where, args.pg_dsn, indexing=True, grouping=True)
        await storage.open()
        rates = [await ingest(storage, args.ingest, size) for size in args.batches]
        lag = (await storage.overview()).details.get("search_index", "")
        # The same writer with the search indexer paused: what indexing costs it.
        await storage.close()
        storage = make_storage(backend, where, args.pg_dsn, indexing=False, grouping=True)
        await storage.open()
        alone = await ingest(storage, args.ingest, max(args.batches))
        rates.append({**alone, "batch": f"{alone['batch']} (indexer paused)"})
    finally:
        try:
            if backend == "postgresql":
                await drop_pg_tables(args.pg_dsn, where)
        finally:
            await storage.close()
    for rate in rates:
        rate["target"] = INGEST_TARGETS[backend]
        rate["met"] = rate["per_second"] >= INGEST_TARGETS[backend]
    return {"backend": backend, "rows": args.rows, "phases": phases, "queries": results,
            "views": view_results,
            "ingest": rates, "index_after_ingest": lag,
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "overview": {"log_count": overview.log_count, "request_count": overview.request_count,
                         "details": overview.details}}  # fmt: skip


def render(data: dict[str, Any]) -> str:
    """The markdown report."""
    s = data["settings"]
    lines = ["# Storage benchmark", "", machine_markdown(data["machine"]), ""]
    if s["quick"]:
        lines += ["Quick mode: a smoke test of the harness; the figures are not results.", ""]
    lines += [
        f"{s['rows']:,} log entries and {s['rows']:,} tracked requests per backend; each query "
        f"timed {s['runs']} times (interleaved, after 2 warm-ups). Targets: p95 < "
        f"{TARGET_MS:g} ms, search < {SEARCH_TARGET_MS:g} ms; ingest ≥ 50,000/s SQLite, "
        "≥ 30,000/s PostgreSQL (sequential `save_logs` batches, background indexer running; "
        "issue grouping on, as `setup(app)` installs it).",
        "",
        "*CPU p50* is this process's CPU time per query (all threads): the whole cost on "
        "SQLite, the client's share on PostgreSQL. On a loaded machine it shows what the "
        "query costs apart from waiting for a core.",
        "",
        "What the figures rest on: the stats cards and row counts read per-hour counters kept "
        "exact at write time; substring search uses a trigram index (SQLite FTS5, PostgreSQL "
        "`pg_trgm` on a side table) that a background task fills behind the writer, while "
        "rows it has not reached yet are scanned, so results are always complete; PostgreSQL "
        "search reads the newest indexed rows in id order before it asks the trigram index. "
        "The ingest runs include that indexer's work (CPU µs/entry counts every thread of "
        "the process); the *indexer paused* row shows the writer alone.",
    ]
    for result in data["results"]:
        if "skipped" in result:
            lines += ["", f"## {result['backend']}", "", f"Skipped: {result['skipped']}"]
            continue
        ph = result["phases"]
        lines += [
            "", f"## {result['backend']}", "",
            f"Seeding: logs {ph['seed_logs_s']} s, requests {ph['seed_requests_s']} s; search "
            f"index built in {ph['index_build_s']} s ({ph['index_rows_per_s']:,} rows/s).", "",
            table(["query", "p50 ms", "p95 ms", "max ms", "CPU p50 ms", "target", ""],
                  [[q["query"], f"{q['p50_ms']:.2f}", f"{q['p95_ms']:.2f}", f"{q['max_ms']:.1f}",
                    f"{q['cpu_p50_ms']:.2f}",
                    f"< {q['target_ms']:g}", "✓" if q["met"] else f"✗ {q['error'] or ''}".rstrip()]
                   for q in result["queries"]]),
            "", "Dashboard routes through the app (`setup(app)` on the same data, httpx in "
            "process: routing, auth dependency, storage reads and Jinja rendering):", "",
            table(["route", "p50 ms", "p95 ms", "max ms", "CPU p50 ms", "target", ""],
                  [[q["query"], f"{q['p50_ms']:.2f}", f"{q['p95_ms']:.2f}", f"{q['max_ms']:.1f}",
                    f"{q['cpu_p50_ms']:.2f}",
                    f"< {q['target_ms']:g}", "✓" if q["met"] else f"✗ {q['error'] or ''}".rstrip()]
                   for q in result.get("views", [])]),
            "", table(["batch", "entries", "seconds", "entries/s", "CPU µs/entry", "target", ""],
                      [[r["batch"], f"{r['entries']:,}", r["seconds"], f"{r['per_second']:,}",
                        r["cpu_us_per_entry"],
                        f"≥ {r['target']:,}", "✓" if r["met"] else "✗"] for r in result["ingest"]]),
            "", f"Search index right after ingest: {result['index_after_ingest']}. "
            f"1-minute load average before/after this backend: {result['load_average']}.",
        ]  # fmt: skip
    return "\n".join(lines) + "\n"


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Run every selected backend."""
    results: list[dict[str, Any]] = []
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="flare-bench-") as workdir:
            print(f"== {backend}: seeding {args.rows:,} + {args.rows:,} rows", flush=True)
            try:
                results.append(await run_backend(backend, args, Path(workdir)))
            except Exception as exc:  # unreachable server, ...: keep the other's figures
                results.append({"backend": backend, "skipped": f"failed: {exc}"})
    settings = {k: getattr(args, k) for k in ("rows", "runs", "ingest", "batches", "quick")}
    return {"settings": settings, "machine": machine_info(), "results": results}


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(description="Storage ingest and dashboard benchmark.")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per query (≥ 20)")
    parser.add_argument("--ingest", type=int, default=200_000, help="entries per ingest run")
    parser.add_argument("--batches", default="100,1000", help="save_logs batch sizes")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-dsn", default=DEFAULT_PG_DSN)
    parser.add_argument("--quick", action="store_true", help="tiny run that checks the harness")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.runs, args.ingest = min(args.rows, 3000), 3, 2000
    args.batches = [int(b) for b in str(args.batches).split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    """Run and write ``storage.md`` / ``storage.json``."""
    args = parse(argv)
    data = asyncio.run(main_async(args))
    write_results("storage", data, render(data), args.out_dir)
    print(render(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
