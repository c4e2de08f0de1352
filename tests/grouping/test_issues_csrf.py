"""Issue actions are POSTs with CSRF protection, behind the dashboard's auth dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from fastapi import HTTPException, Request

from fastapi_flare.dashboard.csrf import COOKIE_NAME
from tests.grouping.conftest import Backend, entry
from tests.grouping.dashboard_app import HX, Site, build_app, running
from tests.helpers import client


@pytest.fixture
async def site(backend: Backend) -> AsyncIterator[Site]:
    app, runtime = build_app(backend)
    async with running(app, runtime) as started:
        await started.add([entry(1, "fp-a")])
        yield started


async def assert_still_open(site: Site) -> None:
    issue = await site.issues.get_issue("fp-a", datetime.now(UTC))
    assert issue is not None and issue.status == "open"


async def test_the_cookie_is_http_only_strict_and_scoped_to_the_dashboard(site: Site) -> None:
    response = await site.http.get("/flare/issues")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/flare" in cookie
    assert "Secure" not in cookie  # plain http here; https responses add it
    again = await site.http.get("/flare/issues")
    assert "set-cookie" not in again.headers  # one id per browser, kept


async def test_a_valid_token_from_the_same_origin_passes(site: Site) -> None:
    token = await site.token()
    response = await site.post({"csrf_token": token, "row": "resolve:fp-a"})
    assert response.status_code == 303
    issue = await site.issues.get_issue("fp-a", datetime.now(UTC))
    assert issue is not None and issue.status == "resolved"


@pytest.mark.parametrize(
    ("token", "headers", "reason"),
    [
        (None, {}, "missing or malformed token"),
        ("", {}, "missing or malformed token"),
        ("f" * 64, {}, "does not match"),
        ("<script>", {}, "missing or malformed token"),
        ("valid", {"Origin": "https://evil.example"}, "Origin is another site"),
        ("valid", {"Origin": "null"}, "Origin is another site"),
        ("valid", {"Origin": "http://testserver.evil.example"}, "Origin is another site"),
        ("valid", {"Sec-Fetch-Site": "cross-site"}, "cross-site"),
        ("valid", {"Sec-Fetch-Site": "same-site"}, "cross-site"),
    ],
)
async def test_forged_or_cross_site_posts_are_refused(
    site: Site, token: str | None, headers: dict[str, str], reason: str
) -> None:
    valid = await site.token()
    fields = {"row": "resolve:fp-a"}
    if token is not None:
        fields["csrf_token"] = valid if token == "valid" else token
    for extra in ({}, HX):
        response = await site.post(fields, headers={**headers, **extra})
        assert response.status_code == 403
        assert reason in response.json()["detail"]
        assert response.headers["x-frame-options"] == "DENY"
    await assert_still_open(site)


async def test_a_referer_from_another_site_is_refused_without_origin(site: Site) -> None:
    token = await site.token()
    response = await site.http.post(
        "/flare/issues/actions",
        data={"csrf_token": token, "row": "resolve:fp-a"},
        headers={"Referer": "https://evil.example/page"},
    )
    assert response.status_code == 403
    await assert_still_open(site)


async def test_a_token_is_bound_to_its_browser(site: Site) -> None:
    mine = await site.token()
    async with client(site.app) as other:
        response = await other.post(
            "/flare/issues/actions",
            data={"csrf_token": mine, "row": "resolve:fp-a"},
            headers={"Origin": "http://testserver"},
        )
        assert response.status_code == 403
        assert "no CSRF cookie" in response.json()["detail"]
        await other.get("/flare/issues")  # now with a cookie of its own, still not mine
        response = await other.post(
            "/flare/issues/actions",
            data={"csrf_token": mine, "row": "resolve:fp-a"},
            headers={"Origin": "http://testserver"},
        )
        assert response.status_code == 403 and "does not match" in response.json()["detail"]
    await assert_still_open(site)


async def test_tokens_work_across_processes_sharing_the_database(backend: Backend) -> None:
    first_app, first_runtime = build_app(backend)
    second_app, second_runtime = build_app(backend)
    async with (
        running(first_app, first_runtime) as first,
        running(second_app, second_runtime) as second,
    ):
        await first.add([entry(1, "fp-a")])
        token = await first.token()
        second.http.cookies.set(COOKIE_NAME, first.http.cookies[COOKIE_NAME], path="/flare")
        response = await second.post({"csrf_token": token, "row": "resolve:fp-a"})
        assert response.status_code == 303


async def test_every_issues_route_needs_the_dashboard_auth(backend: Backend) -> None:
    def verify(request: Request) -> None:
        if request.headers.get("authorization") != "Bearer ok":
            raise HTTPException(status_code=401, detail="Unauthorized")

    app, runtime = build_app(backend, dashboard_auth_dependency=verify)
    async with running(app, runtime) as site:
        await site.add([entry(1, "fp-a")])
        routes = [
            ("GET", "/flare/issues"),
            ("GET", "/flare/issues/fp-a"),
            ("POST", "/flare/issues/actions"),
        ]
        for method, url in routes:
            for headers in ({}, HX, {"Authorization": "Bearer wrong"}):
                denied = await site.http.request(
                    method,
                    url,
                    headers=headers,
                    data={"row": "resolve:fp-a"} if method == "POST" else None,
                )
                assert denied.status_code == 401, (method, url)
                assert "set-cookie" not in denied.headers
                assert denied.headers["content-security-policy"].startswith("default-src 'self'")
        auth = {"Authorization": "Bearer ok"}
        page = await site.soup("/flare/issues", headers=auth)
        token = str(page.select_one("input[name=csrf_token]")["value"])
        response = await site.post({"csrf_token": token, "row": "resolve:fp-a"}, headers=auth)
        assert response.status_code == 303
