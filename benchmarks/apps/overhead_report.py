"""Turn the overhead runs into medians, ratios, target verdicts and a markdown report."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from benchmarks.apps.overhead_app import ROUTES
from benchmarks.apps.report import machine_markdown, median, table

ROUTE_TITLES = {
    "200": "GET /ok → 200",
    "404": "GET /missing → HTTPException(404)",
    "500": "GET /boom → RuntimeError (500, stack trace captured)",
}


def target_for(config: dict[str, Any], route: str) -> float | None:
    """The throughput ratio to bare that issue 8 asks of this config on this route."""
    if config["mode"] != "flare":
        return None
    if route == "200":
        return 0.92 if config["flare"].get("track_2xx_requests") else 0.97
    return {"404": 0.90, "500": 0.85}[route]


def _expected(config: dict[str, Any], route: str, handled: int) -> tuple[int, int]:
    """Log rows and request rows a Flare config must store for ``handled`` requests."""
    flare = config["flare"]
    logs = handled if route != "200" else 0
    tracked = flare.get("track_requests", True) and (
        route != "200" or flare.get("track_2xx_requests", False)
    )
    return logs, handled if tracked else 0


def summarise(
    configs: list[dict[str, Any]], runs: list[dict[str, Any]], servers: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per (route, config): medians over rounds, paired ratio to bare, storage check."""
    bare = {(r["round"], r["route"]): r["rps"] for r in runs if r["config"] == "bare"}
    rows: list[dict[str, Any]] = []
    routes = sorted({r["route"] for r in runs})
    for route in routes:
        path = ROUTES[route]
        for config in configs:
            mine = [r for r in runs if r["config"] == config["name"] and r["route"] == route]
            if not mine:
                continue
            # Each round's ratio is taken against bare of the same round (paired),
            # which cancels slow drifts of the machine between rounds.
            ratios = [
                r["rps"] / bare[(r["round"], route)] for r in mine if bare.get((r["round"], route))
            ]
            row: dict[str, Any] = {
                "route": route,
                "config": config["name"],
                "label": config["label"],
                "rps": round(median(r["rps"] for r in mine), 1),
                "p50_ms": round(median(r["p50_ms"] for r in mine), 3),
                "p99_ms": round(median(r["p99_ms"] for r in mine), 3),
                "cpu_us": _median_or_none(r.get("cpu_us_per_request") for r in mine),
                "ratio": round(median(ratios), 3) if ratios else None,
                "ratio_min": round(min(ratios), 3) if ratios else None,
                "ratio_max": round(max(ratios), 3) if ratios else None,
                "rounds": len(mine),
                "sent": sum(r["requests"] for r in mine),
                "socket_errors": sum(r["socket_errors"] for r in mine),
                "dropped": sum(r["dropped"] for r in mine),
                "max_queue_depth_at_end": max(r["queue_depth_at_end"] for r in mine),
            }
            target = target_for(config, route)
            row["target"] = target
            row["target_met"] = (
                None if target is None or row["ratio"] is None else row["ratio"] >= target
            )
            mine_servers = [s for s in servers if s["config"] == config["name"]]
            row["handled"] = sum(s["handled"][path] for s in mine_servers)
            if config["mode"] == "flare":
                expected = [_expected(config, route, s["handled"][path]) for s in mine_servers]
                row["expected_logs"] = sum(e[0] for e in expected)
                row["expected_requests"] = sum(e[1] for e in expected)
                row["stored_logs"] = sum(s["stored"]["logs"].get(path, 0) for s in mine_servers)
                row["stored_requests"] = sum(
                    s["stored"]["requests"].get(path, 0) for s in mine_servers
                )
                row["stored_complete"] = (
                    row["stored_logs"] == row["expected_logs"]
                    and row["stored_requests"] == row["expected_requests"]
                )
            rows.append(row)
    return rows


def _median_or_none(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(median(known), 1) if known else None


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _verdict(row: dict[str, Any]) -> str:
    if row["target"] is None:
        return "reference"
    mark = "met" if row["target_met"] else "**missed**"
    return f"≥ {row['target']:.2f}: {mark}"


def _stored(row: dict[str, Any]) -> str:
    if "stored_logs" not in row:
        return "–"
    ok = "yes" if row["stored_complete"] else "**NO**"
    return (
        f"{ok}: {row['stored_logs']:,} logs / {row['expected_logs']:,}, "
        f"{row['stored_requests']:,} requests / {row['expected_requests']:,}"
    )


def render(data: dict[str, Any]) -> str:
    """The overhead.md report."""
    s = data["settings"]
    pin = (
        f"uvicorn pinned to CPU {s['server_cpus']}, load generator to CPU {s['load_cpus']} "
        "(taskset); Flare's SQLite writer thread shares the server's CPU"
        if s["server_cpus"]
        else "no CPU pinning"
    )
    lines = [
        "# Request overhead",
        "",
        machine_markdown(data["machine"]),
        "",
        f"Load: `{s['client']}`, {s['connections']} connections, {s['threads']} threads, "
        f"{s['duration_s']:g} s per run after a {s['warmup_s']:g} s warm-up on /ok, "
        f"{s['rounds']} interleaved rounds (every configuration once per round, each in a fresh "
        f"uvicorn process: 1 worker, uvloop, httptools, access log off, log level warning); {pin}.",
        "",
        "Figures are medians over rounds. *Ratio* is the median over rounds of "
        "(configuration req/s ÷ bare req/s in the same round). *Stored* compares the rows in "
        "the SQLite file after SIGTERM (the queue is drained at shutdown) with the requests the "
        "app handled (wrk's count stops at the deadline; requests still in flight then are "
        "handled and stored too). Retention caps were raised for the run so no row is pruned "
        "before it is counted; the queue keeps its default size (10,000). *Server CPU* is the "
        "uvicorn process's CPU time (all threads, the writer's included, until the queue is "
        "drained) per handled request. While the server's core is saturated it is the "
        "inverse of req/s; unlike req/s it leaves out time the machine gave to other work.",
    ]
    if s.get("quick"):
        lines += ["", "**Quick mode (smoke test): the figures are not meaningful.**"]
    for route in sorted({row["route"] for row in data["summary"]}):
        rows = [row for row in data["summary"] if row["route"] == route]
        lines += ["", f"## {ROUTE_TITLES[route]}", ""]
        lines.append(
            table(
                [
                    "configuration",
                    "req/s",
                    "ratio to bare (min–max)",
                    "p50 ms",
                    "p99 ms",
                    "server CPU µs/req",
                    "target",
                    "stored == handled",
                    "dropped",
                ],
                [
                    [
                        row["label"],
                        f"{row['rps']:,.0f}",
                        f"{_fmt(row['ratio'])} ({_fmt(row['ratio_min'])}–{_fmt(row['ratio_max'])})",
                        _fmt(row["p50_ms"]),
                        _fmt(row["p99_ms"]),
                        _fmt(row.get("cpu_us"), 1),
                        _verdict(row),
                        _stored(row),
                        row["dropped"] if "stored_logs" in row else "–",
                    ]
                    for row in rows
                ],
            )
        )
    sentry = [srv for srv in data["servers"] if "sentry_envelopes" in srv]
    if sentry:
        errors = sum(srv["handled"][ROUTES["500"]] for srv in sentry)
        envelopes = sum(srv["sentry_envelopes"] for srv in sentry)
        lines += [
            "",
            f"sentry-sdk delivered {envelopes:,} envelopes to the local sink for {errors:,} "
            "unhandled errors (its transport queue drops events it cannot send in time; "
            "404s are not reported by default).",
        ]
    for note in data.get("notes", []):
        lines += ["", note]
    return "\n".join(lines)
