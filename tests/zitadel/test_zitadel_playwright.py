"""A person signs in through the provider's login form in Chromium, then signs out."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from tests.conftest import CHROMIUM_ARGS, CHROMIUM_PATH, unavailable
from tests.zitadel.apps import build_app, zitadel_config
from tests.zitadel.op import PASSWORD, USERNAME, OPProcess, require_op

pytestmark = [pytest.mark.oidc, pytest.mark.browser]


@dataclass
class LiveSite:
    """The app under uvicorn at ``origin`` and the provider it signs in with."""

    origin: str
    op: OPProcess


@pytest.fixture
def live_site(tmp_path: Path) -> Iterator[LiveSite]:
    """Bind the app's port first, so the provider can register its redirect URI."""
    require_op()
    if not os.path.exists(CHROMIUM_PATH):
        unavailable(f"Chromium not found at {CHROMIUM_PATH}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    # "localhost" for the app, 127.0.0.1 for the provider: two hosts, two cookie jars.
    origin = f"http://localhost:{sock.getsockname()[1]}"
    op = OPProcess.start(
        OP_REDIRECT_URIS=f"{origin}/flare/callback", OP_POST_LOGOUT_URIS=f"{origin}/flare"
    )
    config = zitadel_config(op.issuer, tmp_path, zitadel_redirect_uri=f"{origin}/flare/callback")
    server = uvicorn.Server(
        uvicorn.Config(build_app(config), log_level="warning", loop="asyncio", http="h11")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        assert server.started, "uvicorn did not start"
        yield LiveSite(origin, op)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        op.stop()


async def test_sign_in_and_out_in_chromium(live_site: LiveSite) -> None:
    from playwright.async_api import async_playwright

    origin = live_site.origin
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page()
            await page.goto(f"{origin}/flare/requests?status=500")
            assert page.url.startswith(f"{live_site.op.issuer}/ui/login/")

            await page.get_by_label("Login name").fill(USERNAME)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url(f"{origin}/flare/requests?status=500")
            assert await page.locator("h1").inner_text() == "HTTP Requests"

            cookies = {c["name"]: c for c in await page.context.cookies(origin + "/flare")}
            session = cookies["flare_session"]
            assert (session["httpOnly"], session["sameSite"], session["path"]) == (
                True,
                "Lax",
                "/flare",
            )
            assert "flare_login" not in cookies

            await page.goto(f"{origin}/flare/auth/logout")
            await page.get_by_role("button", name="Sign out").click()
            # Back at the dashboard, which sends us to a fresh login form.
            await page.wait_for_url(f"{live_site.op.issuer}/ui/login/**")
            assert await page.get_by_label("Password").is_visible()
            remaining = await page.context.cookies(origin + "/flare")
            assert "flare_session" not in {c["name"] for c in remaining}
        finally:
            await browser.close()
