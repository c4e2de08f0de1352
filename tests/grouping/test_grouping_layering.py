"""The grouping write path stays out of the dashboard's dependencies."""

from __future__ import annotations

import subprocess
import sys

WRITE_PATH = [
    "fastapi_flare.grouping",
    "fastapi_flare.grouping.batch",
    "fastapi_flare.grouping.filters",
    "fastapi_flare.grouping.sparkline",
    "fastapi_flare.storage.sqlite_issues",
    "fastapi_flare.storage.postgres_issues",
    "fastapi_flare.capture.fingerprint",
]
FORBIDDEN = (
    "fastapi_flare.dashboard",
    "jinja2",
    "jinja2_fragments",
    "authlib",
    "fastapi_flare.auth",
)


def test_grouping_and_its_storage_modules_do_not_import_the_dashboard() -> None:
    code = (
        "import sys, importlib\n"
        f"for name in {WRITE_PATH!r}: importlib.import_module(name)\n"
        f"print(','.join(sorted(m for m in sys.modules if m.startswith({FORBIDDEN!r}))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
