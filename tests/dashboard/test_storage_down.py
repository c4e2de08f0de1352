"""Storage that cannot be reached: every page still renders and says so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from tests.dashboard.conftest import HX, Dash, build_app
from tests.helpers import client, lifespan


@pytest.fixture
async def broken(tmp_path: Path) -> AsyncIterator[Dash]:
    """An app whose SQLite file cannot be created: its parent is a regular file."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    app, runtime = build_app(tmp_path, sqlite_path=str(blocker / "flare.db"))
    async with lifespan(app), client(app) as http:
        yield Dash(app, runtime, http, "/flare")


async def test_errors_page_renders_the_storage_status(broken: Dash) -> None:
    response = await broken.get()
    assert response.status_code == 200
    soup = BeautifulSoup(response.text, "html.parser")
    alert = soup.select_one("#results [role=alert]")
    assert alert is not None and "Storage is unavailable" in alert.get_text()
    assert soup.select_one("#storage [data-storage-status]").get_text() == "Unavailable"
    assert soup.select_one("#storage .panel-error").get_text(strip=True)
    assert soup.select_one("[data-card=storage] .card-hint").get_text() == "storage unavailable"
    assert [o.get_text() for o in soup.select("#f-event option")] == ["All events"]


async def test_fragments_and_requests_tab_render_the_status(broken: Dash) -> None:
    for path, target in (("", "results"), ("", "cards"), ("", "storage"), ("/requests", "results")):
        response = await broken.get(path, headers={**HX, "HX-Target": target})
        assert response.status_code == 200, (path, target)
        assert "navailable" in response.text, (path, target)
    page = await broken.get("/requests?status=5xx&q=%25")
    assert page.status_code == 200
    assert "Storage is unavailable" in page.text


async def test_detail_answers_503_with_the_reason(broken: Dash) -> None:
    for path in ("/logs/1", "/requests/1"):
        page = await broken.get(path)
        assert page.status_code == 503
        assert "Storage is unavailable" in page.text
        fragment = await broken.get(path, headers=HX)
        assert fragment.status_code == 503
        assert fragment.text.lstrip().startswith("<dialog")
