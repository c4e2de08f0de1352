"""Machine description, medians and markdown tables shared by the benchmark reports."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"
PACKAGES = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "aiosqlite", "sentry-sdk")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _wrk_version() -> str | None:
    if shutil.which("wrk") is None:
        return None
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (
        (done.stdout or done.stderr).splitlines()[0].strip() if done.stdout or done.stderr else ""
    )


def machine_info() -> dict[str, Any]:
    """What the figures were measured on: CPUs, memory, kernel, versions."""
    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_gib": mem_total,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES if _version(name)},
        "fastapi_flare": _version("fastapi-flare"),
        "wrk": _wrk_version(),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        # Other work on the machine skews throughput; the load average says how much.
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def machine_markdown(info: dict[str, Any]) -> str:
    """One paragraph describing the machine, for the top of a report."""
    packages = ", ".join(f"{name} {version}" for name, version in info["packages"].items())
    wrk = f"; load generator {info['wrk']}" if info.get("wrk") else ""
    return (
        f"Machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['memory_gib']} GiB RAM, "
        f"Linux {info['kernel']}; Python {info['python']}; {packages}{wrk}. "
        f"Measured {info['measured_at']}; load average (1, 5, 15 min) when the report was "
        f"written: {', '.join(str(x) for x in info.get('loadavg', []))}."
    )


def median(values: Iterable[float]) -> float:
    """Median of the values (0.0 for none)."""
    data = list(values)
    return float(statistics.median(data)) if data else 0.0


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, data: dict[str, Any], markdown: str, out_dir: Path) -> None:
    """Write ``name.json`` and ``name.md`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    (out_dir / f"{name}.md").write_text(markdown.rstrip() + "\n")
