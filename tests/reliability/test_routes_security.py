"""Every dashboard route reviewed: auth, CSRF, security headers, redirects, sessions.

The route list is read from ``app.routes``, so a route added later is covered
without editing this file.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI, HTTPException, Request
from fastapi.routing import APIRoute

from fastapi_flare import FlareConfig, setup
from fastapi_flare.auth.claims import ZitadelClaims
from fastapi_flare.auth.session import SESSION_COOKIE, CookieSigner
from fastapi_flare.dashboard.csrf import COOKIE_NAME as CSRF_COOKIE
from fastapi_flare.grouping import issue_store
from fastapi_flare.runtime import FlareRuntime
from tests.core.conftest import build_host_app
from tests.helpers import client, lifespan, wait_until

BASE = "/flare"
TOKEN = "let-me-in"
SESSION_SECRET = "z" * 64
HX = {"HX-Request": "true"}
# Filled into path templates; "1" is a real row id once the app has seen a failure.
PATH_VALUES = {"name": "flare.css", "entry_id": "1", "fingerprint": "does-not-exist"}


def walk(routes: list[Any], prefix: str = "") -> list[tuple[str, str]]:
    """(method, path template) of every API route, descending into included routers."""
    found: list[tuple[str, str]] = []
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            found += walk(nested.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute):
            found += [(method, prefix + route.path) for method in sorted(route.methods or ())]
    return found


def dashboard_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, concrete URL) of every route at or under the dashboard path."""
    concrete = []
    for method, template in walk(app.routes):
        if template != BASE and not template.startswith(BASE + "/"):
            continue
        url = re.sub(r"\{(\w+)(:path)?\}", lambda m: PATH_VALUES[m.group(1)], template)
        concrete.append((method, url))
    return sorted(set(concrete))


def assert_security_headers(response: httpx.Response) -> None:
    """CSP with frame-ancestors, nosniff, a referrer policy, no framing."""
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    csp = response.headers.get("content-security-policy", "")
    directives = {part.strip() for part in csp.split(";")}
    assert "frame-ancestors 'none'" in directives, where
    assert "default-src 'self'" in directives, where
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert response.headers.get("x-content-type-options") == "nosniff", where
    assert response.headers.get("referrer-policy") in ("same-origin", "no-referrer"), where
    assert response.headers.get("x-frame-options") == "DENY", where


def require_token(request: Request) -> None:
    """The dashboard_auth_dependency of these tests."""
    if request.headers.get("authorization") != f"Bearer {TOKEN}":
        raise HTTPException(status_code=401, detail="Unauthorized")


def guarded_app(tmp_path: Path, **options: Any) -> tuple[FastAPI, FlareRuntime]:
    """The host app with Flare's dashboard behind a bearer-token dependency."""
    app = build_host_app()
    options.setdefault("dashboard_auth_dependency", require_token)
    return app, setup(app, FlareConfig(sqlite_path=str(tmp_path / "flare.db"), **options))


@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, FlareRuntime, httpx.AsyncClient]]:
    """A guarded app that has captured one failure (so ids and issues exist)."""
    app, runtime = guarded_app(tmp_path)
    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set)
        assert (await http.get("/boom")).status_code == 500
        queue = runtime.queue
        await wait_until(lambda: queue.written == queue.accepted == 2)
        yield app, runtime, http


async def call(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request; POSTs carry a plausible form so only auth or CSRF can refuse them."""
    if method == "POST":
        kwargs.setdefault("data", {"action": "resolve", "fingerprint": "x"})
    return await http.request(method, url, **kwargs)


async def test_every_dashboard_route_refuses_anonymous_callers(
    seeded: tuple[FastAPI, FlareRuntime, httpx.AsyncClient],
) -> None:
    app, _, http = seeded
    routes = dashboard_routes(app)
    methods = {method for method, _ in routes}
    assert {"GET", "POST"} <= methods and len(routes) >= 9, routes
    authorised = {"Authorization": f"Bearer {TOKEN}"}
    for method, url in routes:
        for headers in ({}, HX, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            denied = await call(http, method, url, headers=headers)
            assert denied.status_code in (401, 403), (method, url, headers, denied.status_code)
            assert "kaboom" not in denied.text
            assert_security_headers(denied)
        allowed = await call(http, method, url, headers=authorised)
        if method == "POST":  # past the auth dependency, the CSRF check stops a bare form
            assert allowed.status_code == 403 and "CSRF" in allowed.text, (method, url)
        else:
            assert allowed.status_code not in (401, 403), (method, url)
            assert allowed.status_code < 500, (method, url)
    assert (await http.get("/boom")).status_code == 500  # the host app itself is not guarded


async def csrf_form(http: httpx.AsyncClient, headers: dict[str, str]) -> tuple[str, str]:
    """The CSRF token of the Issues page, and the fingerprint of its first issue."""
    page = await http.get(f"{BASE}/issues", headers=headers)
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    token = soup.select_one("input[name=csrf_token]")
    row = soup.select_one("input[name=fingerprint]")
    assert token is not None and row is not None
    assert http.cookies.get(CSRF_COOKIE)
    return str(token["value"]), str(row["value"])


async def test_state_changing_routes_need_a_csrf_token(
    seeded: tuple[FastAPI, FlareRuntime, httpx.AsyncClient],
) -> None:
    app, runtime, http = seeded
    auth = {"Authorization": f"Bearer {TOKEN}"}
    token, fingerprint = await csrf_form(http, auth)
    store = issue_store(runtime.storage)
    assert store is not None

    async def status() -> str:
        issue = await store.get_issue(fingerprint, datetime.now(UTC))
        assert issue is not None
        return issue.status

    url = f"{BASE}/issues/actions"
    form = {"action": "resolve", "fingerprint": fingerprint}
    same_site = {**auth, "Origin": "http://testserver"}
    browser = http.cookies.get(CSRF_COOKIE)
    other_browser = {**same_site, "Cookie": f"{CSRF_COOKIE}={'A' * 43}"}
    no_cookie = {**same_site, "Cookie": "theme=dark"}
    attempts: list[tuple[dict[str, str], dict[str, str]]] = [
        (form, same_site),  # no token
        ({**form, "csrf_token": "0" * 64}, same_site),  # forged token
        ({**form, "csrf_token": token[:-1]}, same_site),  # malformed token
        ({**form, "csrf_token": token}, {**auth, "Origin": "https://evil.example"}),
        ({**form, "csrf_token": token}, {**auth, "Sec-Fetch-Site": "cross-site"}),
        ({**form, "csrf_token": token}, {**auth, "Referer": "https://evil.example/x"}),
        ({**form, "csrf_token": token}, other_browser),  # token of another browser
        ({**form, "csrf_token": token}, no_cookie),  # no CSRF cookie at all
    ]
    for data, headers in attempts:
        async with client(app) as stranger:  # a fresh jar: cookies only as given
            if "Cookie" not in headers:
                headers = {**headers, "Cookie": f"{CSRF_COOKIE}={browser}"}
            response = await stranger.post(url, data=data, headers=headers)
        assert response.status_code == 403, (data, headers, response.status_code)
        assert_security_headers(response)
        assert await status() == "open"
    # Non-form bodies (which a cross-site page could also send) are refused before anything.
    for content_type in ("text/plain", "application/json"):
        response = await http.post(
            url,
            content=f"action=resolve&fingerprint={fingerprint}",
            headers={**same_site, "content-type": content_type},
        )
        assert response.status_code in (403, 415)
        assert await status() == "open"

    ok = await http.post(url, data={**form, "csrf_token": token}, headers=same_site)
    assert ok.status_code == 303
    assert await status() == "resolved"
    assert app is not None


async def test_every_dashboard_response_carries_security_headers(tmp_path: Path) -> None:
    app, runtime = guarded_app(tmp_path, dashboard_auth_dependency=None)
    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set)
        assert (await http.get("/boom")).status_code == 500
        queue = runtime.queue
        await wait_until(lambda: queue.written == queue.accepted == 2)
        seen = 0
        for method, url in dashboard_routes(app):
            for headers in ({}, HX, {**HX, "HX-Target": "results"}):
                for suffix in ("", "?page=-1&limit=abc&q=%00&before=-5"):
                    response = await call(http, method, url + suffix, headers=headers)
                    assert response.status_code < 500, (method, url + suffix)
                    assert_security_headers(response)
                    seen += 1
        for url in (f"{BASE}/logs/424242", f"{BASE}/requests/424242", f"{BASE}/static/nope.js"):
            response = await http.get(url)
            assert response.status_code == 404
            assert_security_headers(response)
    assert seen >= 50


def browser_config(tmp_path: Path, domain: str = "http://127.0.0.1:9") -> FlareConfig:
    """Zitadel browser mode; the provider is only contacted by the login route."""
    return FlareConfig(
        sqlite_path=str(tmp_path / "flare.db"),
        zitadel_domain=domain,
        zitadel_client_id="flare-jwt",
        zitadel_project_id="100000000000000001",
        zitadel_redirect_uri="http://localhost:8000/flare/callback",
        zitadel_session_secret=SESSION_SECRET,
    )


def signer(clock: Any = time.time, secret: str = SESSION_SECRET) -> CookieSigner:
    """The cookie signer of ``browser_config`` (same salts, paths and lifetime)."""
    return CookieSigner(
        secret,
        session_max_age=8 * 3600,
        session_path=BASE,
        login_path=f"{BASE}/callback",
        secure=False,
        clock=clock,
    )


def session_value(**kwargs: Any) -> str:
    """A session cookie value for one user."""
    claims = ZitadelClaims(subject="300000000000000001", email="ada@example.test", name="Ada")
    return signer(**kwargs).dump_session(claims)


def tamper(value: str) -> str:
    """Flip one character of the payload part of a signed value."""
    index = 5
    flipped = "A" if value[index] != "A" else "B"
    return value[:index] + flipped + value[index + 1 :]


async def test_sessions_are_signed_and_expire(tmp_path: Path) -> None:
    app = FastAPI()
    setup(app, browser_config(tmp_path))
    valid = session_value()
    login_state = signer().dump_login(
        __import__("fastapi_flare.auth.login", fromlist=["new_login"]).new_login(BASE)
    )
    refused = {
        "tampered payload": tamper(valid),
        "tampered signature": valid[:-2] + ("AA" if not valid.endswith("AA") else "BB"),
        "other secret": session_value(secret="y" * 64),
        "expired": session_value(clock=lambda: time.time() - 9 * 3600),
        "login state replayed as session": login_state,
        "garbage": "not-a-session",
        "empty": "",
    }
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        for name, value in {**refused, "valid": valid}.items():
            cookie = {"Cookie": f"{SESSION_COOKIE}={value}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://localhost:8000"
            ) as http:
                page = await http.get(BASE, headers=cookie)
                fragment = await http.get(BASE, headers={**HX, **cookie})
            if name == "valid":
                assert page.status_code == 200, name
                continue
            assert page.status_code == 303, name
            assert page.headers["location"].startswith(f"{BASE}/auth/login"), name
            assert fragment.status_code == 401 and "hx-redirect" in fragment.headers, name
            assert SESSION_COOKIE not in page.headers.get("set-cookie", "")
