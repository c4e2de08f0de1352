"""``make_zitadel_dependency``: protect any route with Zitadel bearer tokens."""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from fastapi_flare.auth.bearer import BearerAuth
from fastapi_flare.auth.claims import ZitadelClaims
from fastapi_flare.auth.provider import OpenIDProvider
from fastapi_flare.auth.tokens import DEFAULT_LEEWAY_SECONDS, TokenVerifier
from fastapi_flare.config import zitadel_issuer_origin

__all__ = ["BearerAuth", "ZitadelClaims", "make_zitadel_dependency"]


def make_zitadel_dependency(
    domain: str,
    client_id: str,
    project_id: str,
    *,
    required_roles: Iterable[str] | None = None,
    api_client_id: str | None = None,
    api_client_secret: str | None = None,
    leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
    http_client: httpx.AsyncClient | None = None,
) -> BearerAuth:
    """A FastAPI dependency that requires ``Authorization: Bearer`` and returns the claims.

    JWT access tokens are verified against the instance's JWKS (``iss``,
    ``aud`` containing ``project_id``, ``exp``/``nbf``); opaque tokens are
    introspected when ``api_client_id``/``api_client_secret`` are given.
    With ``required_roles``, one of those project roles must be granted (403).
    """
    if bool(api_client_id) != bool(api_client_secret):
        raise ValueError("api_client_id and api_client_secret must be given together")
    if not client_id or not project_id:
        raise ValueError("client_id and project_id are required")
    provider = OpenIDProvider(zitadel_issuer_origin(domain), http_client=http_client)
    verifier = TokenVerifier(
        provider,
        project_id=project_id,
        client_id=client_id,
        leeway=leeway_seconds,
        api_client_id=api_client_id,
        api_client_secret=api_client_secret,
    )
    return BearerAuth(verifier, required_roles or ())
