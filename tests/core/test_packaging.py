"""The built wheel ships the templates, static files and py.typed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_contains_templates_and_static_files(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("fastapi_flare-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "fastapi_flare/py.typed" in names
    package_files = {
        str(path.relative_to(ROOT))
        for folder in ("templates", "static")
        for path in (ROOT / "fastapi_flare" / folder).rglob("*")
        if path.is_file()
    }
    assert any(name.endswith(".html") for name in package_files)
    assert any(name.endswith(".js") for name in package_files)
    assert any(name.endswith(".css") for name in package_files)
    assert package_files <= names
    assert not any(name.startswith("tests/") for name in names)
