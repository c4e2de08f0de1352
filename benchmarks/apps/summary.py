"""``summary.md``: the headline figures of every benchmark on one page."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from benchmarks.apps.overhead_report import ROUTE_TITLES
from benchmarks.apps.report import machine_markdown, table


def _load(out_dir: Path, name: str) -> dict[str, Any] | None:
    path = out_dir / f"{name}.json"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _overhead(data: dict[str, Any]) -> list[str]:
    s = data["settings"]
    configs = data["configs"]
    rows = []
    for route in sorted({row["route"] for row in data["summary"]}):
        by_config = {row["config"]: row for row in data["summary"] if row["route"] == route}
        cells: list[str] = [ROUTE_TITLES[route]]
        for config in configs:
            row = by_config.get(config["name"])
            if row is None:
                cells.append("–")
                continue
            text = f"{row['rps']:,.0f} req/s"
            if row.get("cpu_us") is not None:
                text += f" ({row['cpu_us']:,.0f} µs CPU)"
            if config["name"] != "bare":
                text += f", ×{row['ratio']:.2f}"
                if row["target"] is not None:
                    text += " ✓" if row["target_met"] else f" ✗ (< {row['target']:.2f})"
            if row.get("stored_complete") is False:
                text += ", rows missing"
            cells.append(text)
        rows.append(cells)
    missed = [r for r in data["summary"] if r["target_met"] is False]
    incomplete = [r for r in data["summary"] if r.get("stored_complete") is False]
    return [
        "## Request overhead ([overhead.md](overhead.md))",
        "",
        f"Medians of {s['rounds']} interleaved rounds × {s['duration_s']:g} s, "
        f"`{s['client']}` with {s['connections']} connections; ×ratio to bare in the same round; "
        "✓/✗ against the issue's target; µs CPU: the server's CPU time per request.",
        "",
        table(["route", *(c["label"] for c in configs)], rows),
        "",
        f"Targets missed: {len(missed)}. Routes where stored rows ≠ handled requests: "
        f"{len(incomplete)}.",
    ]


def _memory(data: dict[str, Any]) -> list[str]:
    rss = data["rss"]
    queue = ", ".join(f"{row['kind']} {row['mb_per_100k']} MB" for row in data["queue"])
    verdict = "met" if rss["target_met"] else "**missed**"
    return [
        "## Memory ([memory.md](memory.md))",
        "",
        f"RSS {rss['rss_start_mb']} MB → {rss['rss_end_mb']} MB after {rss['entries']:,} captured "
        f"errors ({rss['growth_mb']:+} MB; target ≤ {rss['target_mb']:g} MB: {verdict}; "
        f"{rss['queue']['dropped']:,} dropped). Queue memory per 100,000 pending entries: {queue}.",
    ]


def _embedded(out_dir: Path, name: str, title: str) -> list[str]:
    """Another benchmark's markdown, headings pushed one level down."""
    path = out_dir / f"{name}.md"
    if not path.exists():
        return []
    text = path.read_text().strip()
    # Its own title would repeat the section heading above it.
    text = re.sub(r"\A# [^\n]*\n+", "", text)
    body = re.sub(r"^(#+) ", r"#\1 ", text, flags=re.MULTILINE)
    return [f"## {title} ([{name}.md]({name}.md))", "", body]


def render_summary(
    out_dir: Path, machine: dict[str, Any], statuses: list[dict[str, object]]
) -> str:
    """Markdown collecting every result file present in ``out_dir``."""
    lines = [
        "# Benchmark summary",
        "",
        "Produced by `make bench` (`python -m benchmarks.run_all`); the per-benchmark files "
        "beside this one hold every run and the JSON the tables come from.",
        "",
        machine_markdown(machine),
        "",
        table(
            ["benchmark", "this run"],
            [[s["name"], s["status"]] for s in statuses],
        ),
    ]
    overhead = _load(out_dir, "overhead")
    if overhead is not None:
        lines += ["", *_overhead(overhead)]
    memory = _load(out_dir, "memory")
    if memory is not None:
        lines += ["", *_memory(memory)]
    for name, title in (
        ("storage", "Storage ingest and dashboard"),
        ("retention", "Retention"),
        ("metrics", "Metrics"),
    ):
        section = _embedded(out_dir, name, title)
        if section:
            lines += ["", *section]
    return "\n".join(lines) + "\n"
