"""Bearer mode against the real provider: JWT checks, introspection, roles, JWKS refetch."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from fastapi_flare.zitadel import ZitadelClaims, make_zitadel_dependency
from tests.helpers import wait_until
from tests.zitadel.apps import app_client, build_app, zitadel_config
from tests.zitadel.op import (
    API_CLIENT_ID,
    API_CLIENT_SECRET,
    CLIENT_JWT,
    CLIENT_OPAQUE,
    CLIENT_SHORT,
    PROJECT_ID,
    ROLE,
    SUBJECT,
    OPProcess,
    obtain_tokens,
)

pytestmark = pytest.mark.oidc


def guarded_app(op: OPProcess, **options: Any) -> FastAPI:
    """One route protected by ``make_zitadel_dependency``, echoing the claims."""
    options.setdefault("project_id", PROJECT_ID)
    dependency = make_zitadel_dependency(op.issuer, CLIENT_JWT, **options)
    app = FastAPI()

    @app.get("/me")
    async def me(
        claims: ZitadelClaims = Depends(dependency),  # noqa: B008 - FastAPI idiom
    ) -> dict[str, Any]:
        return {"sub": claims.subject, "email": claims.email, "roles": sorted(claims.roles)}

    return app


def segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


async def call(app: FastAPI, token: str | None, scheme: str = "Bearer") -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    async with app_client(app) as client:
        return await client.get("/me", headers=headers)


def challenge(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    return response.headers["www-authenticate"]


async def test_valid_jwt_gives_the_claims(op: OPProcess) -> None:
    token = (await obtain_tokens(op))["access_token"]
    response = await call(guarded_app(op), token)
    assert response.status_code == 200
    # Access tokens carry no email; roles come from the project roles claim.
    assert response.json() == {"sub": SUBJECT, "email": None, "roles": [ROLE]}


async def test_missing_or_malformed_header_gets_401(op: OPProcess) -> None:
    app = guarded_app(op)
    assert challenge(await call(app, None)) == 'Bearer realm="fastapi-flare"'
    assert 'error="invalid_token"' in challenge(await call(app, "dXNlcjpwYXNz", "Basic"))
    assert 'error="invalid_token"' in challenge(await call(app, ""))


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "e30.e30.", "x" * 20000])
async def test_garbage_tokens_get_401(op: OPProcess, garbage: str) -> None:
    assert 'error="invalid_token"' in challenge(await call(guarded_app(op), garbage))


async def test_expired_token_gets_401_unless_within_leeway(op: OPProcess) -> None:
    token = (await obtain_tokens(op, CLIENT_SHORT))["access_token"]
    strict, lenient = guarded_app(op, leeway_seconds=0), guarded_app(op, leeway_seconds=60)
    assert (await call(strict, token)).status_code == 200

    async def rejected() -> bool:
        return (await call(strict, token)).status_code == 401

    await wait_until(rejected, timeout=10, interval=0.25)
    assert challenge(await call(strict, token)).endswith(
        'error_description="the token has expired"'
    )
    assert time.time() >= payload(token)["exp"]
    assert (await call(lenient, token)).status_code == 200


async def test_wrong_audience_gets_401(op: OPProcess) -> None:
    token = (await obtain_tokens(op))["access_token"]
    response = await call(guarded_app(op, project_id="999999999999999999"), token)
    assert "the token's aud claim is not accepted" in challenge(response)


async def test_unknown_key_and_forged_signature_get_401(op: OPProcess) -> None:
    claims = payload((await obtain_tokens(op))["access_token"])
    rogue = RSAKey.generate_key(2048)
    app = guarded_app(op)
    unknown = jwt.encode({"alg": "RS256", "kid": "rogue"}, claims, rogue)
    assert "unknown key" in challenge(await call(app, unknown))
    same_kid = jwt.encode({"alg": "RS256", "kid": op.kid}, claims, rogue)
    assert "signature is invalid" in challenge(await call(app, same_kid))


async def test_alg_none_gets_401(op: OPProcess) -> None:
    claims = payload((await obtain_tokens(op))["access_token"])
    unsigned = f"{segment({'alg': 'none', 'kid': op.kid})}.{segment(claims)}."
    assert "'none' is not accepted" in challenge(await call(guarded_app(op), unsigned))


async def test_hs256_signed_with_the_public_key_gets_401(op: OPProcess) -> None:
    claims = payload((await obtain_tokens(op))["access_token"])
    async with httpx.AsyncClient() as client:
        jwks = (await client.get(f"{op.issuer}/oauth/v2/keys")).json()
    public_json = json.dumps(jwks["keys"][0]).encode()
    secret = OctKey.import_key(public_json)
    forged = jwt.encode({"alg": "HS256", "kid": op.kid}, claims, secret)
    assert "'HS256' is not accepted" in challenge(await call(guarded_app(op), forged))


async def test_required_roles(op: OPProcess) -> None:
    token = (await obtain_tokens(op))["access_token"]
    denied = await call(guarded_app(op, required_roles=["flare.admin"]), token)
    assert denied.status_code == 403
    assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]
    allowed = await call(guarded_app(op, required_roles=["flare.admin", ROLE]), token)
    assert allowed.status_code == 200


async def test_opaque_token_needs_introspection(op: OPProcess) -> None:
    token = (await obtain_tokens(op, CLIENT_OPAQUE))["access_token"]
    assert "token type to JWT" in challenge(await call(guarded_app(op), token))
    app = guarded_app(op, api_client_id=API_CLIENT_ID, api_client_secret=API_CLIENT_SECRET)
    response = await call(app, token)
    assert response.status_code == 200
    assert response.json() == {"sub": SUBJECT, "email": None, "roles": [ROLE]}
    assert "not active" in challenge(await call(app, token[:-4] + "AAAA"))


async def test_opaque_token_for_another_project_is_refused(op: OPProcess) -> None:
    token = (await obtain_tokens(op, CLIENT_OPAQUE))["access_token"]
    app = guarded_app(
        op,
        project_id="999999999999999999",
        api_client_id=API_CLIENT_ID,
        api_client_secret=API_CLIENT_SECRET,
    )
    assert "not active" in challenge(await call(app, token))


async def test_unknown_kids_refetch_the_jwks_once(op: OPProcess) -> None:
    fetches: list[str] = []

    async def count(request: httpx.Request) -> None:
        if request.url.path == "/oauth/v2/keys":
            fetches.append(str(request.url))

    async with httpx.AsyncClient(event_hooks={"request": [count]}) as http:
        app = guarded_app(op, http_client=http)
        token = (await obtain_tokens(op))["access_token"]
        claims = payload(token)
        assert (await call(app, token)).status_code == 200
        assert len(fetches) == 1
        rogue = RSAKey.generate_key(2048)
        for n in range(5):
            forged = jwt.encode({"alg": "RS256", "kid": f"random-{n}"}, claims, rogue)
            assert (await call(app, forged)).status_code == 401
        # One refetch for the first unknown kid, then the rate limit holds.
        assert len(fetches) == 2
        assert (await call(app, token)).status_code == 200
        assert len(fetches) == 2


async def test_issuer_mismatch_in_discovery_gets_503(op: OPProcess) -> None:
    token = (await obtain_tokens(op))["access_token"]
    app = FastAPI()
    dependency = make_zitadel_dependency(f"http://localhost:{op.port}", CLIENT_JWT, PROJECT_ID)

    @app.get("/me")
    async def me(
        claims: ZitadelClaims = Depends(dependency),  # noqa: B008 - FastAPI idiom
    ) -> str:
        return claims.subject

    response = await call(app, token)
    assert response.status_code == 503


async def test_dashboard_in_bearer_mode(op: OPProcess, tmp_path: Path) -> None:
    app = build_app(zitadel_config(op.issuer, tmp_path, zitadel_redirect_uri=None))
    token = (await obtain_tokens(op))["access_token"]
    async with app_client(app) as client:
        denied = await client.get("/flare", headers={"HX-Request": "true"})
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"] == 'Bearer realm="fastapi-flare"'
        allowed = await client.get("/flare", headers={"Authorization": f"Bearer {token}"})
        assert allowed.status_code == 200
        # No login routes in bearer mode.
        assert (await client.get("/flare/auth/login")).status_code == 404


async def test_browser_mode_also_accepts_bearer_tokens(op: OPProcess, tmp_path: Path) -> None:
    app = build_app(zitadel_config(op.issuer, tmp_path))
    token = (await obtain_tokens(op))["access_token"]
    async with app_client(app) as client:
        allowed = await client.get("/flare", headers={"Authorization": f"Bearer {token}"})
        assert allowed.status_code == 200
        denied = await client.get("/flare", headers={"Authorization": "Bearer nope"})
        assert denied.status_code == 401
        # Another scheme (say, a proxy's Basic auth) falls through to the session check.
        basic = await client.get("/flare", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        assert basic.status_code == 303
