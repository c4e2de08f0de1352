"""Request overhead: the same app bare, with ``setup(app)`` in several configs, and sentry-sdk.

Each configuration runs under uvicorn (one worker, uvloop + httptools) in its own
process; load comes from ``wrk`` in another process. Configurations are interleaved
(A B C … A B C …) for ``--rounds`` rounds and the medians are reported. After each
server stops (SIGTERM: Flare drains its queue) the SQLite file is opened and the
stored rows are counted per route, to compare with the requests the app handled.

    python -m benchmarks.bench_overhead [--duration 10] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.apps.load import run_load, wrk_available
from benchmarks.apps.overhead_app import ROUTES, STATS_PATH
from benchmarks.apps.overhead_report import render, summarise
from benchmarks.apps.report import RESULTS_DIR, machine_info, write_results
from benchmarks.apps.server import UvicornServer, cpu_prefix, free_port, http_get_json
from benchmarks.apps.store import count_stored

APP = "benchmarks.apps.overhead_app:create_app"
# High caps so retention cannot delete rows before they are counted; the queue
# keeps its default size: "stored == sent" is checked with the shipped default.
RETENTION_HEADROOM = {"max_entries": 50_000_000, "request_max_entries": 50_000_000}
DRAIN_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Config:
    """One server configuration."""

    name: str
    label: str
    mode: str
    flare: dict[str, Any] = field(default_factory=dict)
    # Another source tree to import fastapi_flare from (before/after comparisons).
    cwd: str | None = None


CONFIGS = [
    Config("bare", "bare FastAPI", "bare"),
    Config("flare", "setup(app) defaults (metrics on)", "flare"),
    Config("flare_no_metrics", "metrics_enabled=False", "flare", {"metrics_enabled": False}),
    Config("flare_2xx", "track_2xx_requests=True", "flare", {"track_2xx_requests": True}),
    Config(
        "flare_headers", "capture_request_headers=True", "flare", {"capture_request_headers": True}
    ),
    Config("sentry", "sentry-sdk 2.x, errors only (reference)", "sentry"),
]


def sentry_installed() -> bool:
    """True when sentry-sdk can be imported."""
    return importlib.util.find_spec("sentry_sdk") is not None


def _wait_drained(server: UvicornServer) -> tuple[int, float]:
    """Queue depth when the load stopped, and seconds until the writer emptied it."""
    started = time.monotonic()
    stats = server.get(STATS_PATH)
    depth_at_end = stats["queue"]["depth"] if stats["queue"] else 0
    while stats["queue"] and stats["queue"]["depth"] and time.monotonic() - started < 60:
        time.sleep(0.05)
        stats = server.get(STATS_PATH)
    return depth_at_end, round(time.monotonic() - started, 3)


def wait_for_sink(port: int, timeout: float = 10.0) -> None:
    """Wait until the Sentry stand-in answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            http_get_json(port, "/count", timeout=1.0)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def run_server(
    config: Config, round_no: int, args: argparse.Namespace, sink_port: int | None, tmp: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Start one server, load each route, stop it, count what it stored."""
    db_path = tmp / f"{config.name}-{round_no}.db"
    env = {"BENCH_MODE": config.mode}
    if config.mode == "flare":
        flare = {**RETENTION_HEADROOM, **config.flare, "sqlite_path": str(db_path)}
        env["BENCH_FLARE_CONFIG"] = json.dumps(flare)
    if config.mode == "sentry":
        env["BENCH_SENTRY_DSN"] = f"http://public@127.0.0.1:{sink_port}/1"
    sink_before = http_get_json(sink_port, "/count") if sink_port and config.mode == "sentry" else 0
    server = UvicornServer(APP, env, tmp / "server.log", cpus=args.server_cpus, cwd=config.cwd)
    load_cpus = cpu_prefix(args.load_cpus)
    runs: list[dict[str, Any]] = []
    try:
        server.start(STATS_PATH)
        if args.warmup > 0:
            run_load(
                server.base_url + ROUTES["200"],
                duration=args.warmup,
                connections=args.connections,
                threads=args.threads,
                client=args.client,
                cpu_prefix=load_cpus,
            )
        for status in args.routes:
            path = ROUTES[status]
            before = server.get(STATS_PATH)
            cpu_before = server.cpu_seconds()
            result = run_load(
                server.base_url + path,
                duration=args.duration,
                connections=args.connections,
                threads=args.threads,
                client=args.client,
                cpu_prefix=load_cpus,
            )
            depth_at_end, drain_s = _wait_drained(server)
            cpu_after = server.cpu_seconds()
            after = server.get(STATS_PATH)
            handled = after["handled"][path] - before["handled"][path]
            dropped = (
                after["queue"]["dropped"] - before["queue"]["dropped"] if after["queue"] else 0
            )
            runs.append(
                {
                    "round": round_no,
                    "config": config.name,
                    "route": status,
                    **result.as_dict(),
                    "handled": handled,
                    # The writer's catch-up after the load counts too (measured once drained).
                    "cpu_us_per_request": round((cpu_after - cpu_before) / handled * 1e6, 1)
                    if cpu_before is not None and cpu_after is not None and handled
                    else None,
                    "queue_depth_at_end": depth_at_end,
                    "drain_s": drain_s,
                    "dropped": dropped,
                }
            )
        final = server.get(STATS_PATH)
    finally:
        server.stop()
    server_record: dict[str, Any] = {
        "round": round_no,
        "config": config.name,
        "handled": final["handled"],
        "queue": final["queue"],
    }
    if config.mode == "flare":
        server_record["stored"] = count_stored(db_path)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    if config.mode == "sentry" and sink_port is not None:
        server_record["sentry_envelopes"] = http_get_json(sink_port, "/count") - sink_before
    return runs, server_record


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--connections", type=int, default=64, help="open connections (64)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds on /ok (2)")
    parser.add_argument("--routes", default="200,404,500", help="statuses to load (200,404,500)")
    parser.add_argument("--configs", default=",".join(c.name for c in CONFIGS))
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/load to CPUs")
    parser.add_argument("--quick", action="store_true", help="1 s runs, 1 round, no warm-up")
    parser.add_argument(
        "--patched-src",
        type=Path,
        help="a second checkout (with the same benchmarks/): its default config runs as "
        "flare_patched, interleaved with the others, to measure a change before/after",
    )
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.warmup = 1.0, 1, 0.0
    args.routes = [r.strip() for r in args.routes.split(",") if r.strip()]
    unknown = set(args.routes) - set(ROUTES)
    if unknown:
        parser.error(f"unknown routes {sorted(unknown)}; choose from {sorted(ROUTES)}")
    wanted = {c.strip() for c in args.configs.split(",")}
    args.configs = [c for c in CONFIGS if c.name in wanted]
    if args.patched_src is not None:
        src = str(args.patched_src.resolve())
        args.configs.append(
            Config("flare_patched", f"setup(app) defaults, {src}", "flare", cwd=src)
        )
    if "bare" not in wanted:
        parser.error("--configs must include bare (ratios are relative to it)")
    if args.client == "auto":
        args.client = "wrk" if wrk_available() else "python"
    # Two CPUs or more: server on CPU 0, load generator (and sink) on CPU 1, so
    # neither steals the other's core; Flare's writer thread shares the server's.
    pin = not args.no_pin and len(os.sched_getaffinity(0)) >= 2
    args.server_cpus, args.load_cpus = ("0", "1") if pin else (None, None)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write ``overhead.md`` / ``overhead.json``."""
    args = parse_args(argv)
    # SIGTERM (e.g. from run_all's caller) unwinds normally: servers and sink get stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    notes: list[str] = []
    if any(c.mode == "sentry" for c in args.configs) and not sentry_installed():
        args.configs = [c for c in args.configs if c.mode != "sentry"]
        notes.append("sentry-sdk is not installed: its reference column is left out.")
    runs: list[dict[str, Any]] = []
    servers: list[dict[str, Any]] = []
    sink: subprocess.Popen[bytes] | None = None
    sink_port = None
    with tempfile.TemporaryDirectory(prefix="flare-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if any(c.mode == "sentry" for c in args.configs):
            sink_port = free_port()
            sink_command = [sys.executable, "-m", "benchmarks.apps.sentry_sink", str(sink_port)]
            sink = subprocess.Popen([*cpu_prefix(args.load_cpus), *sink_command])
            wait_for_sink(sink_port)
        try:
            for round_no in range(1, args.rounds + 1):
                for config in args.configs:
                    print(f"round {round_no}/{args.rounds}: {config.name}", flush=True)
                    config_runs, record = run_server(config, round_no, args, sink_port, tmp)
                    runs += config_runs
                    servers.append(record)
                    for run in config_runs:
                        print(
                            f"  {run['route']}: {run['rps']:.0f} req/s"
                            f" p50 {run['p50_ms']} ms p99 {run['p99_ms']} ms",
                            flush=True,
                        )
        finally:
            if sink is not None:
                sink.terminate()
                sink.wait()
    settings = {
        "duration_s": args.duration,
        "rounds": args.rounds,
        "connections": args.connections,
        "threads": args.threads,
        "warmup_s": args.warmup,
        "client": args.client,
        "server_cpus": args.server_cpus,
        "load_cpus": args.load_cpus,
        "retention_caps": RETENTION_HEADROOM,
        "quick": args.quick,
    }
    configs = [
        {"name": c.name, "label": c.label, "mode": c.mode, "flare": c.flare} for c in args.configs
    ]
    summary = summarise(configs, runs, servers)
    data = {
        "benchmark": "overhead",
        "machine": machine_info(),
        "settings": settings,
        "configs": configs,
        "summary": summary,
        "runs": runs,
        "servers": servers,
        "notes": notes,
    }
    write_results("overhead", data, render(data), args.out_dir)
    print(f"wrote {args.out_dir / 'overhead.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
