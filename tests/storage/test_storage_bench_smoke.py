"""benchmarks/bench_storage.py runs end to end in --quick mode and writes sane result files."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from tests.storage.conftest import require_pg

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_quick_run_writes_every_query_and_ingest_row(tmp_path: Path, backend: str) -> None:
    if backend == "postgresql":
        await require_pg()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.bench_storage", "--quick", "--backends", backend,
        "--out-dir", str(tmp_path), cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, stderr.decode()
    data = json.loads((tmp_path / "storage.json").read_text())
    [result] = data["results"]
    assert result["backend"] == backend and "skipped" not in result
    assert result["overview"]["log_count"] == 3000
    assert result["overview"]["request_count"] == 3000
    assert len(result["queries"]) == 21
    for query in result["queries"]:
        assert query["error"] is None and len(query["runs_ms"]) == 3
        assert 0 < query["p50_ms"] <= query["p95_ms"] <= query["max_ms"]
    # Every dashboard route answered 200, the Issues view's included.
    views = {view["query"]: view for view in result["views"]}
    assert len(views) == 19 and "issue page, largest issue" in views
    assert all(view["error"] is None and len(view["runs_ms"]) == 3 for view in views.values())
    batches = [row["batch"] for row in result["ingest"]]
    assert batches == [100, 1000, "1000 (indexer paused)"]
    assert all(row["entries"] == 2000 and row["per_second"] > 0 for row in result["ingest"])
    markdown = (tmp_path / "storage.md").read_text()
    assert f"## {backend}" in markdown and "Quick mode" in markdown
