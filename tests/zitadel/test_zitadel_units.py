"""Pure pieces: redirect targets, cookie signing and expiry, roles, PKCE, setup validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fastapi_flare.auth import build_zitadel_auth
from fastapi_flare.auth.claims import ZitadelClaims, extract_roles
from fastapi_flare.auth.login import code_challenge, new_login
from fastapi_flare.auth.redirects import safe_next
from fastapi_flare.auth.session import LOGIN_STATE_MAX_AGE_SECONDS, CookieSigner
from fastapi_flare.auth.tokens import jwt_header
from fastapi_flare.config import FlareConfig

SECRET = "k" * 64
PID = "100000000000000001"


@pytest.mark.parametrize(
    "target",
    ["/flare", "/flare/", "/flare/requests?status=500&page=2", "/flare/logs/abc%20def"],
)
def test_safe_next_keeps_dashboard_paths(target: str) -> None:
    assert safe_next(target, "/flare") == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "flare",
        "//evil.example",
        "//evil.example/flare",
        "https://evil.example/flare",
        "http:/flare",
        "/\\evil.example",
        "/flare\\..\\admin",
        "\\\\evil.example",
        "/flare/../admin",
        "/flare/%2e%2e/admin",
        "/flare/%2F%2Fevil",
        "/flare/%5cevil",
        "/flare/./x",
        "/\tflare",
        "/flare\r\nSet-Cookie: x=1",
        "/flareevil",
        "/admin",
        "/flare/auth/logout",
        "/flare/auth/login?next=/flare",
        "/flare/callback?code=x",
        "/flare#frag",
        "/flare/" + "a" * 3000,
    ],
)
def test_safe_next_refuses_everything_else(target: str | None) -> None:
    assert safe_next(target, "/flare", exclude=("/flare/callback",)) == "/flare"


def signer(now: list[float], **overrides: Any) -> CookieSigner:
    options: dict[str, Any] = {
        "session_max_age": 3600,
        "session_path": "/flare",
        "login_path": "/flare/callback",
        "secure": True,
        "clock": lambda: now[0],
        **overrides,
    }
    return CookieSigner(SECRET, **options)


def test_session_round_trip_and_expiry() -> None:
    now = [1_000_000.0]
    cookies = signer(now)
    claims = ZitadelClaims("sub-1", "a@example.test", "Ada", frozenset({"viewer"}))
    value = cookies.dump_session(claims)
    loaded = cookies.load_session(value)
    assert loaded is not None
    assert (loaded.subject, loaded.email, loaded.name, loaded.roles) == (
        "sub-1",
        "a@example.test",
        "Ada",
        frozenset({"viewer"}),
    )
    now[0] += 3599
    assert cookies.load_session(value) is not None
    now[0] += 1
    assert cookies.load_session(value) is None


def test_tampered_or_foreign_cookies_read_as_absent() -> None:
    now = [1_000_000.0]
    cookies = signer(now)
    value = cookies.dump_session(ZitadelClaims("sub-1"))
    middle = len(value) // 3
    flipped = value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1 :]
    assert cookies.load_session(flipped) is None
    assert cookies.load_session(value[:-2]) is None
    assert cookies.load_session("not-a-cookie") is None
    assert cookies.load_session(None) is None
    other = CookieSigner(
        "o" * 64, session_max_age=3600, session_path="/", login_path="/", secure=False
    )
    assert other.load_session(value) is None
    # A login-state cookie is never a session, and the other way round.
    login_value = cookies.dump_login(new_login("/flare"))
    assert cookies.load_session(login_value) is None
    assert cookies.load_login(value) is None


def test_login_state_expires_after_ten_minutes() -> None:
    now = [1_000_000.0]
    cookies = signer(now)
    login = new_login("/flare/requests", clock=lambda: now[0])
    value = cookies.dump_login(login)
    assert cookies.load_login(value) == login
    now[0] += LOGIN_STATE_MAX_AGE_SECONDS + 1
    assert cookies.load_login(value) is None


def test_login_state_values_are_unguessable() -> None:
    logins = [new_login("/flare") for _ in range(50)]
    assert len({login.state for login in logins}) == 50
    assert all(len(login.verifier) == 64 for login in logins)
    assert all(len(login.state) >= 43 and len(login.nonce) >= 43 for login in logins)


def test_session_cookie_stays_small() -> None:
    cookies = signer([0.0])
    claims = ZitadelClaims(
        "s" * 40, "e" * 500, "n" * 500, frozenset(f"role-{i}" for i in range(500))
    )
    assert len(cookies.dump_session(claims)) < 3000


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 characters"):
        CookieSigner("short", session_max_age=1, session_path="/", login_path="/", secure=True)


def test_pkce_challenge_matches_rfc7636_example() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_roles_generic_claim_only_when_trusted() -> None:
    claims = {
        "urn:zitadel:iam:org:project:roles": {"admin": {"1": "org"}},
        f"urn:zitadel:iam:org:project:{PID}:roles": {"viewer": {"1": "org"}},
        "urn:zitadel:iam:org:project:999:roles": {"other": {"1": "org"}},
    }
    assert extract_roles(claims, PID, trust_generic=False) == frozenset({"viewer"})
    assert extract_roles(claims, PID, trust_generic=True) == frozenset({"viewer", "admin"})
    assert extract_roles({}, PID, trust_generic=True) == frozenset()


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b", "a.b.c", "e30.e30.sig", "!!.e30.x", "a.b.c.d.e"]
)
def test_jwt_header_rejects_non_jws(token: str) -> None:
    assert jwt_header(token) is None


def config(tmp_path: Path, **overrides: Any) -> FlareConfig:
    values: dict[str, Any] = {
        "sqlite_path": str(tmp_path / "f.db"),
        "zitadel_domain": "auth.example.com",
        "zitadel_client_id": "1",
        "zitadel_project_id": "2",
        "zitadel_redirect_uri": "https://app.example.com/flare/callback",
        "zitadel_session_secret": SECRET,
        **overrides,
    }
    return FlareConfig(**values)


def test_build_routes_in_browser_mode(tmp_path: Path) -> None:
    auth = build_zitadel_auth(config(tmp_path))
    paths = sorted((route.path, sorted(route.methods)) for route in auth.router.routes)  # type: ignore[attr-defined]
    assert paths == [
        ("/flare/auth/login", ["GET"]),
        ("/flare/auth/logout", ["GET", "POST"]),
        ("/flare/callback", ["GET"]),
    ]
    assert build_zitadel_auth(config(tmp_path, zitadel_redirect_uri=None)).router.routes == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"zitadel_session_secret": None}, "zitadel_session_secret"),
        ({"zitadel_session_secret": "short"}, "at least 32"),
        ({"zitadel_redirect_uri": "http://app.example.com/flare/callback"}, "must use https"),
        ({"zitadel_redirect_uri": "/flare/callback"}, "absolute http"),
        ({"zitadel_redirect_uri": "https://app.example.com/flare/auth/login"}, "login or logout"),
        ({"zitadel_redirect_uri": "https://app.example.com/flare"}, "its own path"),
        ({"zitadel_redirect_uri": "https://app.example.com/cb?x=1"}, "query"),
        ({"zitadel_api_client_id": "api"}, "set together"),
    ],
)
def test_invalid_combinations_fail_at_setup(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_zitadel_auth(config(tmp_path, **overrides))
