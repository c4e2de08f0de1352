"""Retention: how fast a pass prunes a table that is far over its caps.

Each run seeds ``--rows`` log entries and as many tracked requests (the storage
benchmark's realistic entries) with issue grouping on, as ``setup(app)`` installs it (a
trigger keeps each issue's counts right as its rows go), optionally builds the search
index over them (its rows must be deleted too), then times one ``prune()`` down to the
default caps
(10,000 entries, 1,000 requests). Rows per second is what retention can remove
while nothing else runs; under load it shares the writer with new entries.

    python -m benchmarks.bench_retention [--rows 150000] [--rounds 2]
        [--backends sqlite,postgresql] [--quick] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.apps import report
from benchmarks.bench_storage import (
    DEFAULT_PG_DSN,
    chunks,
    drop_pg_tables,
    fake_log,
    fake_request,
    make_storage,
)

MAX_ENTRIES = 10_000
MAX_REQUESTS = 1_000


async def prune_once(backend: str, rows: int, indexed: bool, pg_dsn: str) -> dict[str, Any]:
    """Seed, optionally index, then time one prune to the caps."""
    with tempfile.TemporaryDirectory() as tmp:
        where = (
            str(Path(tmp) / "retention.db")
            if backend == "sqlite"
            else "flare_retention_" + uuid.uuid4().hex[:8]
        )
        storage = make_storage(backend, where, pg_dsn, indexing=False, grouping=True)
        await storage.open()
        try:
            for batch in chunks(rows, fake_log):
                await storage.save_logs(batch)
            for batch in chunks(rows, fake_request):
                await storage.save_requests(batch)
            if indexed:
                await storage.build_search_index()
            started, cpu_started = time.perf_counter(), time.process_time()
            result = await storage.prune(
                older_than=datetime.now(UTC) - timedelta(days=30),
                max_entries=MAX_ENTRIES,
                max_requests=MAX_REQUESTS,
            )
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            overview = await storage.overview()
        finally:
            try:
                if backend == "postgresql":
                    await drop_pg_tables(pg_dsn, where)
            finally:
                await storage.close()
    removed = result.logs + result.requests
    return {
        "removed": removed,
        "seconds": round(seconds, 2),
        "rows_per_s": round(removed / seconds) if seconds else 0,
        "cpu_us_per_row": round(cpu / removed * 1e6, 1) if removed else 0.0,
        "left": [overview.log_count, overview.request_count],
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Every backend × search-index state, ``--rounds`` times, interleaved."""
    cases = [(b, indexed) for b in args.backends for indexed in (False, True)]
    runs: dict[str, list[dict[str, Any]]] = {}
    for round_no in range(args.rounds):
        for backend, indexed in cases:
            name = f"{backend}, search index {'built' if indexed else 'empty'}"
            print(f"round {round_no + 1}/{args.rounds}: {name}", flush=True)
            run = await prune_once(backend, args.rows, indexed, args.pg_dsn)
            print(f"  {run}", flush=True)
            runs.setdefault(name, []).append(run)
    summary = [
        {
            "case": name,
            "removed": results[0]["removed"],
            "rows_per_s": round(report.median(r["rows_per_s"] for r in results)),
            "cpu_us_per_row": round(report.median(r["cpu_us_per_row"] for r in results), 1),
            "left": results[-1]["left"],
        }
        for name, results in runs.items()
    ]
    return {
        "machine": report.machine_info(),
        "settings": {"rows": args.rows, "rounds": args.rounds, "backends": args.backends},
        "runs": runs,
        "summary": summary,
    }


def render(data: dict[str, Any]) -> str:
    """``retention.md``."""
    s = data["settings"]
    rows = [
        [r["case"], f"{r['removed']:,}", f"{r['rows_per_s']:,}", r["cpu_us_per_row"],
         f"{r['left'][0]:,} / {r['left'][1]:,}"]
        for r in data["summary"]
    ]  # fmt: skip
    return "\n".join([
        "# Retention", "", report.machine_markdown(data["machine"]), "",
        f"{s['rows']:,} log entries and {s['rows']:,} tracked requests, pruned in one pass to "
        f"{MAX_ENTRIES:,} entries and {MAX_REQUESTS:,} requests, issue grouping on (its "
        f"trigger updates each removed row's issue); medians of {s['rounds']} "
        "interleaved rounds. *CPU* is this process's CPU time per removed row (all threads; "
        "on PostgreSQL the client's share).", "",
        report.table(["case", "rows removed", "rows/s", "CPU µs/row", "left (logs / requests)"],
                     rows),
        "",
    ])  # fmt: skip


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(description="Retention (prune) throughput.")
    parser.add_argument("--rows", type=int, default=150_000, help="rows per table (150,000)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (2)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-dsn", default=DEFAULT_PG_DSN)
    parser.add_argument("--quick", action="store_true", help="tiny run that checks the harness")
    parser.add_argument("--out-dir", type=Path, default=report.RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.rounds = 3000, 1
    args.backends = [b.strip() for b in str(args.backends).split(",") if b.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    """Run and write ``retention.md`` / ``retention.json``."""
    args = parse(argv)
    data = asyncio.run(main_async(args))
    report.write_results("retention", data, render(data), args.out_dir)
    print(f"wrote {args.out_dir / 'retention.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
