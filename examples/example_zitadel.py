"""The dashboard behind Zitadel, plus an API route that takes Zitadel bearer tokens.

Configure with environment variables, then run
``uvicorn examples.example_zitadel:app --port 8000``:

    FLARE_ZITADEL_DOMAIN=auth.mycompany.com          # or http://localhost:8080 for a local Zitadel
    FLARE_ZITADEL_CLIENT_ID=000000000000000001
    FLARE_ZITADEL_PROJECT_ID=000000000000000002
    # Browser mode (leave both unset for bearer-token mode):
    FLARE_ZITADEL_REDIRECT_URI=http://localhost:8000/flare/callback
    FLARE_ZITADEL_SESSION_SECRET=$(python -c "import secrets; print(secrets.token_hex(32))")
    # Optional: FLARE_ZITADEL_REQUIRED_ROLES=flare.viewer,flare.admin
    # Optional, for opaque access tokens: FLARE_ZITADEL_API_CLIENT_ID / _API_CLIENT_SECRET

See docs/zitadel.md for the Zitadel console settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from fastapi_flare import FlareConfig, setup
from fastapi_flare.zitadel import ZitadelClaims, make_zitadel_dependency

config = FlareConfig()
if not (config.zitadel_domain and config.zitadel_client_id and config.zitadel_project_id):
    raise SystemExit(
        "Set FLARE_ZITADEL_DOMAIN, FLARE_ZITADEL_CLIENT_ID and FLARE_ZITADEL_PROJECT_ID"
        " (see the docstring of examples/example_zitadel.py)"
    )

# The same instance and project can guard your own API: bearer tokens only.
require_token = make_zitadel_dependency(
    config.zitadel_domain,
    config.zitadel_client_id,
    config.zitadel_project_id,
    api_client_id=config.zitadel_api_client_id,
    api_client_secret=config.zitadel_api_client_secret,
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Close the dependency's HTTP client on shutdown."""
    yield
    await require_token.aclose()


app = FastAPI(title="fastapi-flare + Zitadel", lifespan=lifespan)
setup(app, config=config)


@app.get("/")
async def root() -> dict[str, str]:
    """Public: where to go next."""
    return {"dashboard": config.dashboard_path, "api": "/api/me"}


@app.get("/api/me")
async def me(claims: ZitadelClaims = Depends(require_token)) -> dict[str, Any]:  # noqa: B008
    """Who the bearer token belongs to."""
    return {"subject": claims.subject, "email": claims.email, "roles": sorted(claims.roles)}
