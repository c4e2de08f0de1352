"""Security headers on every dashboard response; the auth dependency guards every route."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.routing import APIRoute

from tests.dashboard.conftest import HX, Dash, build_app, log, req, started

CSP_DIRECTIVES = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
}


def api_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, str]]:
    """(method, path) of every API route, descending into included routers."""
    found: list[tuple[str, str]] = []
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:  # FastAPI keeps included routers nested
            found += api_routes(nested.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute):
            found += [(method, prefix + route.path) for method in sorted(route.methods)]
    return found


def dashboard_routes(app: FastAPI, base: str) -> list[tuple[str, str]]:
    """(method, concrete URL) of every dashboard route, path parameters filled in."""
    return [
        (method, re.sub(r"\{[a-z_]+(:path)?\}", "1", path.replace("{name}", "flare.css")))
        for method, path in api_routes(app.routes)
        if path == base or path.startswith(base + "/")
    ]


OWN_ROUTES = {
    ("GET", "/flare"),
    ("GET", "/flare/logs/1"),
    ("GET", "/flare/requests"),
    ("GET", "/flare/requests/1"),
    ("GET", "/flare/static/flare.css"),
}


def assert_security_headers(headers: object, url: str) -> None:
    csp = headers["content-security-policy"]  # type: ignore[index]
    assert {part.strip() for part in csp.split(";")} >= CSP_DIRECTIVES, url
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["x-content-type-options"] == "nosniff", url  # type: ignore[index]
    assert headers["referrer-policy"] in ("same-origin", "no-referrer"), url  # type: ignore[index]
    assert headers["x-frame-options"] == "DENY", url  # type: ignore[index]


async def test_every_dashboard_response_carries_security_headers(dash: Dash) -> None:
    await dash.add_logs([log(1)])
    await dash.add_requests([req(1)])
    routes = dashboard_routes(dash.app, "/flare")
    assert set(routes) >= OWN_ROUTES
    extra = [
        ("GET", "/flare/logs/404404"),
        ("GET", "/flare/static/missing.js"),
        ("GET", "/flare?limit=-5"),
    ]
    for method, url in routes + extra:
        for headers in ({}, HX):
            response = await dash.http.request(method, url, headers=headers)
            assert response.status_code < 500, url
            if (method, url) in OWN_ROUTES:
                assert response.status_code == 200, url
            assert_security_headers(response.headers, url)
            if response.headers["content-type"].startswith("text/html"):
                assert response.headers["cache-control"] == "no-store", url


async def test_responses_no_dashboard_route_builds_carry_them_too(dash: Dash) -> None:
    # The host router answers these itself: a slash redirect, an unknown path, a wrong method.
    for method, url, status in (
        ("GET", "/flare/logs/1/", 307),
        ("GET", "/flare/no-such-page", 404),
        ("DELETE", "/flare/requests", 405),
    ):
        response = await dash.http.request(method, url)
        assert response.status_code == status, url
        assert_security_headers(response.headers, url)
        assert response.headers["cache-control"] == "no-store", url
    # Outside the dashboard path the host app's responses stay as they are.
    outside = await dash.http.get("/no-such-page")
    assert "content-security-policy" not in outside.headers


async def test_dashboard_routes_are_hidden_from_openapi(dash: Dash) -> None:
    schema = (await dash.http.get("/openapi.json")).json()
    assert not [path for path in schema.get("paths", {}) if path.startswith("/flare")]


async def test_html_has_no_inline_script_style_or_handlers(dash: Dash) -> None:
    from bs4 import BeautifulSoup

    await dash.add_logs([log(1, context={"k": 1}, stack_trace="Traceback\nValueError: x")])
    await dash.add_requests([req(1, headers={"a": "b"})])
    for url in ("", "/requests", "/logs/1", "/requests/1", "/logs/9999"):
        for headers in ({}, HX):
            soup = BeautifulSoup((await dash.get(url, headers=headers)).text, "html.parser")
            for script in soup.select("script"):
                assert script.get("src") and not script.get_text().strip(), url
            assert soup.select("style") == [], url
            for element in soup.find_all(True):
                for attribute in element.attrs:
                    assert not attribute.lower().startswith(("on", "hx-on", "data-hx-on")), (
                        url,
                        attribute,
                    )
                    assert attribute.lower() != "style", (url, element.name)
                    assert attribute.lower() not in ("hx-vals", "hx-vars"), url


async def test_auth_dependency_guards_every_dashboard_route(tmp_path: Path) -> None:
    def verify(request: Request) -> None:
        if request.headers.get("authorization") != "Bearer let-me-in":
            raise HTTPException(status_code=401, detail="Unauthorized")

    app, runtime = build_app(tmp_path, dashboard_auth_dependency=verify)
    async for dash in started(app, runtime, "/flare"):
        await dash.add_logs([log(1)])
        await dash.add_requests([req(1)])
        routes = dashboard_routes(app, "/flare")
        assert set(routes) >= OWN_ROUTES
        for method, url in routes:
            for headers in ({}, HX, {"Authorization": "Bearer wrong"}):
                denied = await dash.http.request(method, url, headers=headers)
                assert denied.status_code == 401, (method, url)
                assert "message 1" not in denied.text
                assert_security_headers(denied.headers, url)
        for method, url in OWN_ROUTES:
            allowed = await dash.http.request(
                method, url, headers={"Authorization": "Bearer let-me-in"}
            )
            assert allowed.status_code == 200, url
        assert (await dash.http.get("/boom")).status_code == 500  # the host app is not guarded
