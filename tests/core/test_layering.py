"""Capture, queue, worker and storage never import the dashboard, Jinja or authlib."""

from __future__ import annotations

import subprocess
import sys

CORE_MODULES = [
    "fastapi_flare.capture.middleware",
    "fastapi_flare.capture.entries",
    "fastapi_flare.queue",
    "fastapi_flare.worker",
    "fastapi_flare.storage.sqlite",
    "fastapi_flare.storage.postgres",
    "fastapi_flare.storage.factory",
]
FORBIDDEN = (
    "fastapi_flare.dashboard",
    "jinja2",
    "jinja2_fragments",
    "authlib",
    "fastapi_flare.auth",
)


def test_core_layers_do_not_import_the_dashboard_or_auth() -> None:
    code = (
        "import sys, importlib\n"
        f"for name in {CORE_MODULES!r}: importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.startswith({FORBIDDEN!r}))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
