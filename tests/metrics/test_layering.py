"""Metrics recording and storage code never import the dashboard, Jinja or authlib."""

from __future__ import annotations

import subprocess
import sys

MODULES = [
    "fastapi_flare.metrics",
    "fastapi_flare.metrics.charts",
    "fastapi_flare.metrics.reader",
    "fastapi_flare.storage.sqlite_metrics",
    "fastapi_flare.storage.postgres_metrics",
]
FORBIDDEN = (
    "fastapi_flare.dashboard",
    "jinja2",
    "jinja2_fragments",
    "authlib",
    "fastapi_flare.auth",
)


def test_metrics_modules_stay_below_the_dashboard() -> None:
    code = (
        "import sys, importlib\n"
        f"for name in {MODULES!r}: importlib.import_module(name)\n"
        f"print(','.join(sorted(m for m in sys.modules if m.startswith({FORBIDDEN!r}))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
