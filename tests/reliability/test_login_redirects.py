"""Zitadel browser login against the local OpenID provider: no open redirect, safe pages.

Hostile ``next`` values go through the whole PKCE login; the browser must land
on a dashboard path of this origin every time. The login routes live under the
dashboard path, so their responses carry the dashboard's security headers too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from fastapi_flare.auth.session import LOGIN_COOKIE
from tests.reliability.test_routes_security import assert_security_headers, signer
from tests.zitadel.apps import SESSION_SECRET, app_client, build_app, zitadel_config
from tests.zitadel.op import APP_ORIGIN, OPProcess, require_op, submit_login

pytestmark = pytest.mark.oidc

HOSTILE_NEXT = [
    "//evil.com",
    "https://evil.com",
    "/\\evil.com",
    "/flare/..//evil.com",
    "/%2F%2Fevil.com",
    "/flare/%2e%2e/%2e%2e/evil",
    "javascript:alert(1)",
    "https:evil.com",
    "\t//evil.com",
    "/flare\\@evil.com",
    "//evil.com/flare",
    "/flare//evil.com",
]
FULL_FLOW = HOSTILE_NEXT[:3]  # the three classic shapes go through the provider end to end


@pytest.fixture(scope="module")
def op() -> Iterator[OPProcess]:
    """The local OpenID provider on an ephemeral loopback port."""
    require_op()
    process = OPProcess.start()
    yield process
    process.stop()


def login_next(response: httpx.Response) -> str:
    """The return path the login route stored in its signed pending-login cookie."""
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name == LOGIN_COOKIE:
            pending = signer(secret=SESSION_SECRET).load_login(rest.split(";", 1)[0])
            assert pending is not None
            return pending.next
    raise AssertionError("the login route set no pending-login cookie")


def assert_local(location: str) -> None:
    """A same-origin path under the dashboard, nothing a browser could send elsewhere."""
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc, location
    assert location.startswith("/flare") and not location.startswith("//"), location
    assert "\\" not in location and "//" not in location, location


@pytest.mark.parametrize("target", HOSTILE_NEXT)
async def test_login_never_returns_off_site(op: OPProcess, tmp_path: Path, target: str) -> None:
    app = build_app(zitadel_config(op.issuer, tmp_path))
    async with app_client(app) as http:
        start = await http.get(f"/flare/auth/login?{urlencode({'next': target})}")
        assert start.status_code == 303
        assert start.headers["location"].startswith(op.issuer)
        stored = login_next(start)
        assert_local(stored)
        if target not in FULL_FLOW:
            return
        form = await http.get(start.headers["location"], follow_redirects=True)
        hop = await submit_login(http, form)
        while not hop.headers["location"].startswith(APP_ORIGIN):
            hop = await http.get(hop.url.join(hop.headers["location"]))
        back = await http.get(hop.headers["location"])
        assert back.status_code == 303
        assert_local(back.headers["location"])
        landed = await http.get(back.headers["location"])
        assert landed.status_code == 200
        assert str(landed.url).startswith(APP_ORIGIN + "/flare")


async def test_login_routes_carry_security_headers(op: OPProcess, tmp_path: Path) -> None:
    """Login redirect, a refused callback page and logout: dashboard responses all."""
    app = build_app(zitadel_config(op.issuer, tmp_path))
    async with app_client(app) as http:
        responses = [
            await http.get("/flare/auth/login"),
            await http.get("/flare/callback?state=forged&code=forged"),
            await http.get("/flare/auth/logout"),
        ]
    assert [r.status_code for r in responses] == [303, 400, 303]
    for response in responses:
        assert_security_headers(response)
