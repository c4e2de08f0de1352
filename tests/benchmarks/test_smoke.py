"""The benchmark harness runs end to end in --quick mode and writes sane result files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_module(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m module args`` from the repository root; fail with its output."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"{module} failed:\n{done.stdout}\n{done.stderr}"
    return done


def test_overhead_quick_stores_every_captured_request(tmp_path: Path) -> None:
    # wrk when installed, else the built-in asyncio client: the test runs either way.
    run_module(
        "benchmarks.bench_overhead",
        "--quick",
        "--configs",
        "bare,flare",
        "--routes",
        "404",
        "--connections",
        "8",
        "--out-dir",
        str(tmp_path),
    )
    data = json.loads((tmp_path / "overhead.json").read_text())
    rows = {row["config"]: row for row in data["summary"]}
    assert set(rows) == {"bare", "flare"}
    assert data["settings"]["rounds"] == 1
    assert data["machine"]["nproc"] >= 1
    bare, flare = rows["bare"], rows["flare"]
    assert bare["route"] == flare["route"] == "404"
    assert bare["rps"] > 0 and flare["rps"] > 0
    assert bare["ratio"] == 1.0
    assert flare["ratio"] == round(flare["rps"] / bare["rps"], 3)
    assert flare["target"] == 0.90
    assert 0 < flare["p50_ms"] <= flare["p99_ms"]
    # The server's CPU per request, read from /proc (Linux, as CI is).
    assert bare["cpu_us"] > 0 and flare["cpu_us"] > 0
    # Every request the app handled is in the SQLite file: one log row and one request row.
    assert flare["handled"] >= flare["sent"] > 0
    assert flare["stored_logs"] == flare["expected_logs"] == flare["handled"]
    assert flare["stored_requests"] == flare["expected_requests"] == flare["handled"]
    assert flare["stored_complete"] is True
    assert flare["dropped"] == 0
    markdown = (tmp_path / "overhead.md").read_text()
    assert "## GET /missing → HTTPException(404)" in markdown
    assert "setup(app) defaults (metrics on)" in markdown
    assert "Quick mode" in markdown


def test_run_all_quick_writes_memory_results_and_summary(tmp_path: Path) -> None:
    done = run_module(
        "benchmarks.run_all", "--quick", "--only", "memory", "--out-dir", str(tmp_path)
    )
    assert "== memory: ok" in done.stdout
    data = json.loads((tmp_path / "memory.json").read_text())
    rss = data["rss"]
    assert rss["entries"] == 1_000
    # Each failing request yields one log entry and one request row; none dropped.
    assert rss["queue"]["accepted"] == 2 * (1_000 + 200)
    assert rss["queue"]["dropped"] == 0
    assert rss["queue"]["written"] == rss["queue"]["accepted"]
    assert 0 < rss["rss_start_mb"] <= rss["rss_peak_mb"]
    assert len(rss["curve"]) == 4
    assert [row["kind"] for row in data["queue"]] == ["500", "404", "request"]
    for row in data["queue"]:
        assert row["pending"] == 200
        assert row["bytes_per_entry"] > 0
        # Per-entry bytes are rounded to whole bytes, the per-100k figure is not.
        assert abs(row["mb_per_100k"] - row["bytes_per_entry"] * 100_000 / 1024 / 1024) < 0.1
    summary = (tmp_path / "summary.md").read_text()
    assert "## Memory ([memory.md](memory.md))" in summary
    assert "| memory | ok |" in summary
    assert not (tmp_path / "overhead.json").exists()


def test_retention_quick_prunes_to_the_caps(tmp_path: Path) -> None:
    run_module("benchmarks.bench_retention", "--quick", "--out-dir", str(tmp_path))
    data = json.loads((tmp_path / "retention.json").read_text())
    cases = {row["case"]: row for row in data["summary"]}
    assert set(cases) == {
        f"{backend}, search index {state}"
        for backend in ("sqlite", "postgresql")
        for state in ("empty", "built")
    }
    for row in cases.values():
        # 3,000 of each seeded, capped at 10,000 entries and 1,000 requests.
        assert row["removed"] == 2000
        assert row["left"] == [3000, 1000]
        assert row["rows_per_s"] > 0
    assert "# Retention" in (tmp_path / "retention.md").read_text()
