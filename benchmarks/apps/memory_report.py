"""The memory.md report."""

from __future__ import annotations

from typing import Any

from benchmarks.apps.report import machine_markdown, table

KIND_LABELS = {
    "500": "error entry from an unhandled RuntimeError (stack trace)",
    "404": "warning entry from HTTPException(404)",
    "request": "tracked request row (HTTP Requests tab)",
}
DEFAULT_QUEUE_SIZE = 10_000


def render(data: dict[str, Any]) -> str:
    """Markdown for the RSS run and the queue-memory fills."""
    rss = data["rss"]
    verdict = "met" if rss["target_met"] else "**missed**"
    q = rss["queue"]
    lines = [
        "# Memory",
        "",
        machine_markdown(data["machine"]),
        "",
        "## RSS after captured errors",
        "",
        f"{rss['entries']:,} failing requests (every {rss['boom_every']}th a `RuntimeError`, "
        "a 500 with a stack trace; the others `HTTPException(404)`) were driven in-process "
        "through `setup(app)` with the default config (queue 10,000, "
        "retention caps 10,000 entries / 1,000 requests, metrics on); each yields one log "
        "entry and one request row, written to SQLite by the background writer. RSS was "
        f"taken after {rss['warmup']:,} warm-up errors with the queue drained, and again at "
        "the end with the queue drained.",
        "",
        table(
            ["RSS at start", "RSS at end", "growth", "target", "peak RSS", "errors/s", "dropped"],
            [
                [
                    f"{rss['rss_start_mb']} MB",
                    f"{rss['rss_end_mb']} MB",
                    f"{rss['growth_mb']:+} MB",
                    f"≤ {rss['target_mb']:g} MB: {verdict}",
                    f"{rss['rss_peak_mb']} MB",
                    f"{rss['errors_per_s']:,}",
                    f"{q['dropped']:,} of {q['accepted'] + q['dropped']:,}",
                ]
            ],
        ),
        "",
        "RSS along the run: "
        + ", ".join(f"{p['errors']:,} → {p['rss_mb']} MB" for p in rss["curve"])
        + f". SQLite file(s) at the end: {rss['db_mb']} MB.",
        "",
        "## Queue memory per 100,000 pending entries",
        "",
        "The queue was filled while storage was unreachable (the writer cannot open the "
        "database and retries), so every captured entry stays pending, "
        f"{data['settings']['queue_fill']:,} per kind, scaled to 100,000 (the cost per entry "
        "is constant). *Retained* is the size of the queue and every object only its entries "
        "reference (shared objects counted once); *RSS* is the process's growth while filling, "
        "after `gc.collect()` (includes allocator overhead, and is noisy for small fills).",
        "",
        table(
            [
                "entry kind",
                "retained bytes per entry",
                "MB per 100,000",
                "at the default cap (10,000)",
                "RSS bytes per entry",
            ],
            [
                [
                    KIND_LABELS[row["kind"]],
                    f"{row['bytes_per_entry']:,}",
                    f"{row['mb_per_100k']}",
                    f"{row['bytes_per_entry'] * DEFAULT_QUEUE_SIZE / 1024 / 1024:.1f} MB",
                    f"{row['rss_bytes_per_entry']:,}",
                ]
                for row in data["queue"]
            ],
        ),
    ]
    if data["settings"].get("quick"):
        lines += ["", "**Quick mode (smoke test): the figures are not meaningful.**"]
    return "\n".join(lines)
