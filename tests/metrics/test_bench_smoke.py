"""The metrics benchmark runs end to end in --quick mode and writes sane result files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_bench_metrics_quick_writes_its_results(tmp_path: Path) -> None:
    command = ["-m", "benchmarks.bench_metrics", "--quick", "--no-postgres", "--out-dir"]
    done = subprocess.run(
        [sys.executable, *command, str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "metrics.json").read_text())
    record = data["record"]["median_ns"]
    assert 0 < record["noop"] < record["hot"] and record["mixed"] > 0
    (sqlite,) = data["storage"]
    assert sqlite["backend"] == "sqlite" and sqlite["rows"] > 0
    assert set(sqlite["queries"]) >= {"overview 1h", "overview 24h", "overview 7d"}
    assert all(q["p50_ms"] > 0 for q in sqlite["queries"].values())
    markdown = (tmp_path / "metrics.md").read_text()
    assert "## `record()` per request" in markdown and "## Queries on sqlite" in markdown
