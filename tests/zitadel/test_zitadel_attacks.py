"""Attacks on browser mode: forged or replayed callbacks, tampered cookies, open redirects."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fastapi_flare.auth.session import LOGIN_COOKIE, SESSION_COOKIE, CookieSigner
from tests.zitadel.apps import SESSION_SECRET, app_client, build_app, zitadel_config
from tests.zitadel.flows import callback_url, log_in, pending_state, set_cookies
from tests.zitadel.op import OPProcess

pytestmark = pytest.mark.oidc


async def test_forged_state_gets_400_and_no_session(op: OPProcess, tmp_path: Path) -> None:
    app = build_app(zitadel_config(op.issuer, tmp_path))
    async with app_client(app) as client:
        await client.get("/flare/auth/login")
        forged = await client.get("/flare/callback", params={"state": "forged", "code": "x"})
        assert forged.status_code == 400
        assert "unknown or expired" in forged.text
        assert SESSION_COOKIE not in set_cookies(forged)
        assert (await client.get("/flare")).status_code == 303


async def test_callback_without_login_cookie_gets_400(op: OPProcess, tmp_path: Path) -> None:
    app = build_app(zitadel_config(op.issuer, tmp_path))
    async with app_client(app) as client:
        response = await client.get("/flare/callback", params={"state": "s", "code": "c"})
        assert response.status_code == 400
        assert SESSION_COOKIE not in set_cookies(response)


async def test_replayed_callback_is_refused(op: OPProcess, tmp_path: Path) -> None:
    app = build_app(zitadel_config(op.issuer, tmp_path))
    async with app_client(app) as client:
        start = await client.get("/flare/auth/login")
        login_cookie = client.cookies.get(LOGIN_COOKIE, path="/flare/callback")
        callback = await callback_url(client, start.headers["location"])
        assert (await client.get(callback)).status_code == 303

        # Same browser again: the login state was used up.
        again = await client.get(callback)
        assert again.status_code == 400
        assert SESSION_COOKIE not in set_cookies(again)

    async with app_client(app) as attacker:
        # Someone who stole both the callback URL and the login cookie: the code is spent.
        attacker.cookies.set(LOGIN_COOKIE, login_cookie or "", path="/flare/callback")
        replay = await attacker.get(callback)
        assert replay.status_code == 400
        assert "refused the authorization code" in replay.text
        assert SESSION_COOKIE not in set_cookies(replay)
        assert (await attacker.get("/flare")).status_code == 303


async def test_tampered_session_cookie_reads_as_logged_out(op: OPProcess, tmp_path: Path) -> None:
    app = build_app(zitadel_config(op.issuer, tmp_path))
    async with app_client(app) as client:
        await log_in(client)
        value = client.cookies.get(SESSION_COOKIE)
        assert value
        assert (await client.get("/flare")).status_code == 200
        flipped = value[:10] + ("A" if value[10] != "A" else "B") + value[11:]
        for bad in (flipped, value + "x", "garbage", value.split(".")[0]):
            client.cookies.set(SESSION_COOKIE, bad, path="/flare")
            response = await client.get("/flare")
            assert response.status_code == 303, bad
            assert response.headers["location"] == "/flare/auth/login?next=%2Fflare"


@pytest.mark.parametrize(
    "target",
    ["//evil.example/", "https://evil.example/flare", "/\\evil.example", "/flare/../admin"],
)
async def test_login_never_redirects_off_the_dashboard(
    op: OPProcess, tmp_path: Path, target: str
) -> None:
    app = build_app(zitadel_config(op.issuer, tmp_path))
    async with app_client(app) as client:
        start = await client.get("/flare/auth/login", params={"next": target})
        callback = await client.get(await callback_url(client, start.headers["location"]))
        assert callback.status_code == 303
        assert callback.headers["location"] == "/flare"


async def test_provider_error_and_foreign_issuer_are_refused(op: OPProcess, tmp_path: Path) -> None:
    app = build_app(zitadel_config(op.issuer, tmp_path))
    async with app_client(app) as client:
        state = await pending_state(client)
        denied = await client.get(
            "/flare/callback", params={"state": state, "error": "access_denied"}
        )
        assert denied.status_code == 400
        assert "reported: access_denied" in denied.text
        assert set_cookies(denied)[LOGIN_COOKIE][LOGIN_COOKIE]["max-age"] == "0"

        state = await pending_state(client)
        foreign = await client.get(
            "/flare/callback",
            params={"state": state, "code": "c", "iss": "https://evil.example"},
        )
        assert foreign.status_code == 400
        assert "another identity provider" in foreign.text
        assert SESSION_COOKIE not in set_cookies(foreign)


@pytest.mark.parametrize(
    ("field", "message"),
    [("nonce", "ID token was rejected"), ("verifier", "refused the authorization code")],
)
async def test_nonce_and_pkce_verifier_are_checked(
    op: OPProcess, tmp_path: Path, field: str, message: str
) -> None:
    config = zitadel_config(op.issuer, tmp_path)
    app = build_app(config)
    signer = CookieSigner(
        SESSION_SECRET,
        session_max_age=60,
        session_path="/flare",
        login_path="/flare/callback",
        secure=False,
    )
    async with app_client(app) as client:
        start = await client.get("/flare/auth/login")
        pending = signer.load_login(client.cookies.get(LOGIN_COOKIE))
        assert pending is not None
        # Same state, but a nonce or verifier that the provider never saw.
        altered = replace(pending, **{field: "x" * 64})
        client.cookies.set(LOGIN_COOKIE, signer.dump_login(altered), path="/flare/callback")
        callback = await client.get(await callback_url(client, start.headers["location"]))
        assert callback.status_code == 400
        assert message in callback.text
        assert SESSION_COOKIE not in set_cookies(callback)
