"""examples/example_zitadel.py works as its docstring says."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers import lifespan
from tests.zitadel.apps import SESSION_SECRET, app_client
from tests.zitadel.op import (
    CLIENT_JWT,
    PROJECT_ID,
    REDIRECT_URI,
    ROLE,
    SUBJECT,
    OPProcess,
    obtain_tokens,
)

pytestmark = pytest.mark.oidc
MODULE = "examples.example_zitadel"


@pytest.fixture
def fresh_import() -> Iterator[None]:
    """Import the example anew in each test (it reads the environment at import)."""
    sys.modules.pop(MODULE, None)
    yield
    sys.modules.pop(MODULE, None)


def load() -> ModuleType:
    return importlib.import_module(MODULE)


@pytest.mark.usefixtures("fresh_import")
async def test_example_protects_dashboard_and_api(
    op: OPProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "FLARE_SQLITE_PATH": str(tmp_path / "flare.db"),
        "FLARE_ZITADEL_DOMAIN": op.issuer,
        "FLARE_ZITADEL_CLIENT_ID": CLIENT_JWT,
        "FLARE_ZITADEL_PROJECT_ID": PROJECT_ID,
        "FLARE_ZITADEL_REDIRECT_URI": REDIRECT_URI,
        "FLARE_ZITADEL_SESSION_SECRET": SESSION_SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    app = load().app
    token = (await obtain_tokens(op))["access_token"]
    async with lifespan(app), app_client(app) as client:
        assert (await client.get("/flare")).headers["location"] == "/flare/auth/login?next=%2Fflare"
        assert (await client.get("/api/me")).status_code == 401
        me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json() == {"subject": SUBJECT, "email": None, "roles": [ROLE]}


@pytest.mark.usefixtures("fresh_import")
def test_example_explains_missing_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FLARE_ZITADEL_DOMAIN", "FLARE_ZITADEL_CLIENT_ID", "FLARE_ZITADEL_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit, match="Set FLARE_ZITADEL_DOMAIN"):
        load()
