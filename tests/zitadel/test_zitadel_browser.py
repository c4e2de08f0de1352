"""Browser mode against the real provider: PKCE login, session cookie, logout, htmx, roles."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from fastapi_flare.auth.session import LOGIN_COOKIE, SESSION_COOKIE
from tests.zitadel.apps import app_client, build_app, guarded_app, zitadel_config
from tests.zitadel.flows import follow, log_in, set_cookies
from tests.zitadel.op import (
    API_CLIENT_ID,
    API_CLIENT_SECRET,
    APP_ORIGIN,
    CLIENT_OPAQUE,
    OPProcess,
    login_form_action,
    submit_login,
)

pytestmark = pytest.mark.oidc


async def test_login_returns_to_the_page_first_asked_for(op: OPProcess, tmp_path: Path) -> None:
    app = build_app(zitadel_config(op.issuer, tmp_path))
    async with app_client(app) as client:
        first = await client.get("/flare/requests?status=500")
        assert first.status_code == 303
        assert (
            first.headers["location"] == "/flare/auth/login?next=%2Fflare%2Frequests%3Fstatus%3D500"
        )

        to_provider = await client.get(first.headers["location"])
        assert to_provider.status_code == 303
        authorize = urlsplit(to_provider.headers["location"])
        query = parse_qs(authorize.query)
        assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == (
            f"{op.issuer}/oauth/v2/authorize"
        )
        assert query["code_challenge_method"] == ["S256"]
        assert len(query["code_challenge"][0]) == 43
        assert query["state"][0] and query["nonce"][0]
        login_cookie = set_cookies(to_provider)[LOGIN_COOKIE][LOGIN_COOKIE]
        assert login_cookie["path"] == "/flare/callback"
        assert login_cookie["httponly"] is True
        assert login_cookie["samesite"] == "lax"
        assert login_cookie["max-age"] == "600"

        form = await client.get(to_provider.headers["location"], follow_redirects=True)
        assert "Sign in" in form.text
        hop = await submit_login(client, form)
        while not hop.headers["location"].startswith(APP_ORIGIN):
            hop = await client.get(hop.url.join(hop.headers["location"]))
        callback = await client.get(hop.headers["location"])
        assert callback.status_code == 303
        assert callback.headers["location"] == "/flare/requests?status=500"
        cookies = set_cookies(callback)
        session = cookies[SESSION_COOKIE][SESSION_COOKIE]
        assert session["path"] == "/flare"
        assert session["httponly"] is True
        assert session["samesite"] == "lax"
        assert session["secure"] == ""
        assert session["max-age"] == str(8 * 3600)
        assert cookies[LOGIN_COOKIE][LOGIN_COOKIE]["max-age"] == "0"

        page = await client.get(callback.headers["location"])
        assert page.status_code == 200
        assert "<h1>HTTP Requests</h1>" in page.text


async def test_logout_ends_both_sessions(op: OPProcess, tmp_path: Path) -> None:
    app = build_app(zitadel_config(op.issuer, tmp_path))
    async with app_client(app) as client:
        assert (await log_in(client)).status_code == 200

        logout = await client.get("/flare/auth/logout")
        assert logout.status_code == 303
        end_session = urlsplit(logout.headers["location"])
        assert f"{end_session.scheme}://{end_session.netloc}{end_session.path}" == (
            f"{op.issuer}/oidc/v1/end_session"
        )
        assert parse_qs(end_session.query) == {
            "client_id": ["flare-jwt"],
            "post_logout_redirect_uri": [f"{APP_ORIGIN}/flare"],
        }
        assert set_cookies(logout)[SESSION_COOKIE][SESSION_COOKIE]["max-age"] == "0"
        assert (await client.get("/flare")).status_code == 303

        # The provider asks for confirmation; confirming lands back on the dashboard,
        # which now needs a fresh login on the provider's form.
        confirm = await client.get(logout.headers["location"])
        form_action = re.search(r'<form [^>]*action="([^"]+)"', confirm.text)
        xsrf = re.search(r'name="xsrf" value="([^"]+)"', confirm.text)
        assert form_action and xsrf, confirm.text
        done = await client.post(
            confirm.url.join(form_action.group(1)), data={"xsrf": xsrf.group(1), "logout": "yes"}
        )
        assert done.headers["location"] == f"{APP_ORIGIN}/flare"
        landing = await follow(client, done)
        assert landing.url.host == "127.0.0.1"
        assert login_form_action(landing.text).startswith("/ui/login/")


async def test_htmx_request_without_session_gets_hx_redirect(op: OPProcess, tmp_path: Path) -> None:
    app = build_app(zitadel_config(op.issuer, tmp_path))
    async with app_client(app) as client:
        response = await client.get(
            "/flare/requests?page=2",
            headers={"HX-Request": "true", "HX-Current-URL": f"{APP_ORIGIN}/flare?level=ERROR"},
        )
        assert response.status_code == 401
        assert "location" not in response.headers
        assert response.headers["hx-redirect"] == "/flare/auth/login?next=%2Fflare%3Flevel%3DERROR"


async def test_post_without_session_gets_401(op: OPProcess, tmp_path: Path) -> None:
    app = guarded_app(zitadel_config(op.issuer, tmp_path))
    async with app_client(app) as client:
        response = await client.post("/flare/action")
        assert response.status_code == 401
        assert "location" not in response.headers


async def test_missing_required_role_gets_403_and_no_session(op: OPProcess, tmp_path: Path) -> None:
    app = build_app(zitadel_config(op.issuer, tmp_path, zitadel_required_roles=["flare.admin"]))
    async with app_client(app) as client:
        page = await client.get("/flare", follow_redirects=True)
        denied = await follow(client, await submit_login(client, page))
        assert denied.status_code == 403
        assert "none of the roles" in denied.text
        assert client.cookies.get(SESSION_COOKIE) is None


async def test_held_required_role_lets_in(op: OPProcess, tmp_path: Path) -> None:
    app = build_app(zitadel_config(op.issuer, tmp_path, zitadel_required_roles=["flare.viewer"]))
    async with app_client(app) as client:
        assert "<h1>Errors</h1>" in (await log_in(client)).text


@pytest.mark.parametrize("introspect", [False, True])
async def test_opaque_access_token_app_can_log_in(
    op: OPProcess, tmp_path: Path, introspect: bool
) -> None:
    credentials = (
        {"zitadel_api_client_id": API_CLIENT_ID, "zitadel_api_client_secret": API_CLIENT_SECRET}
        if introspect
        else {}
    )
    config = zitadel_config(
        op.issuer,
        tmp_path,
        zitadel_client_id=CLIENT_OPAQUE,
        zitadel_required_roles=["flare.viewer"],
        **credentials,
    )
    async with app_client(build_app(config)) as client:
        assert "<h1>Errors</h1>" in (await log_in(client)).text


async def test_unreachable_provider_gets_503(tmp_path: Path) -> None:
    # Nothing listens on port 9 of the loopback: connections are refused at once.
    config = zitadel_config("http://127.0.0.1:9", tmp_path)
    app = build_app(config)
    async with app_client(app) as client:
        login = await client.get("/flare/auth/login")
        assert login.status_code == 503
        assert "cannot be reached" in login.text
        bearer = await client.get("/flare", headers={"Authorization": "Bearer a.b.c"})
        assert bearer.status_code == 401
        token = "eyJhbGciOiJSUzI1NiJ9.e30.sig"
        assert (
            await client.get("/flare", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 503


async def test_cookies_are_secure_when_the_site_is_https(op: OPProcess, tmp_path: Path) -> None:
    redirect = "https://flare.example.test/flare/callback"
    app = build_app(zitadel_config(op.issuer, tmp_path, zitadel_redirect_uri=redirect))
    async with app_client(app) as client:
        start = await client.get("/flare/auth/login")
        assert parse_qs(urlsplit(start.headers["location"]).query)["redirect_uri"] == [redirect]
        login_cookie = set_cookies(start)[LOGIN_COOKIE][LOGIN_COOKIE]
        assert login_cookie["secure"] is True
        logout = await client.get("/flare/auth/logout")
        assert set_cookies(logout)[SESSION_COOKIE][SESSION_COOKIE]["secure"] is True
        assert (
            "post_logout_redirect_uri=https%3A%2F%2Fflare.example.test%2Fflare"
            in (logout.headers["location"])
        )
