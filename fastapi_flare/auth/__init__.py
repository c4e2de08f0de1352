"""Zitadel OIDC for the dashboard: browser (PKCE + session cookie) or bearer-token mode."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Request

from fastapi_flare.auth.bearer import BearerAuth
from fastapi_flare.auth.browser import BrowserAuth
from fastapi_flare.auth.claims import ZitadelClaims
from fastapi_flare.auth.login import LoginFlow
from fastapi_flare.auth.provider import OpenIDProvider
from fastapi_flare.auth.session import CookieSigner
from fastapi_flare.auth.tokens import TokenVerifier
from fastapi_flare.config import LOCAL_HOSTS, FlareConfig

__all__ = ["ZitadelAuth", "ZitadelClaims", "build_zitadel_auth"]


@dataclass
class ZitadelAuth:
    """What ``setup()`` wires in: the dashboard dependency and the login routes."""

    dependency: Callable[[Request], Awaitable[ZitadelClaims]]
    router: APIRouter
    provider: OpenIDProvider

    async def aclose(self) -> None:
        """Close the HTTP client used to talk to Zitadel."""
        await self.provider.aclose()


def _callback_path(redirect_uri: str, dashboard_path: str) -> tuple[str, str, bool]:
    """Validate the redirect URI; return (origin, callback path, is https)."""
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"zitadel_redirect_uri {redirect_uri!r} must be an absolute http(s) URL")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise ValueError(
            "zitadel_redirect_uri must use https (plain http only for localhost, 127.0.0.1, ::1)"
        )
    if parts.query or parts.fragment:
        raise ValueError("zitadel_redirect_uri must not carry a query or fragment")
    path = parts.path or "/"
    if path in (f"{dashboard_path}/auth/login", f"{dashboard_path}/auth/logout"):
        raise ValueError("zitadel_redirect_uri must not point at the login or logout route")
    if path == dashboard_path:
        raise ValueError("zitadel_redirect_uri needs its own path, e.g. '/flare/callback'")
    return f"{parts.scheme}://{parts.netloc}", path, parts.scheme == "https"


def build_zitadel_auth(
    config: FlareConfig, *, http_client: httpx.AsyncClient | None = None
) -> ZitadelAuth:
    """Build the dependency and router for ``config``; raise ValueError on a bad combination.

    Browser mode (a redirect URI is set) requires ``zitadel_session_secret``:
    a per-process secret would log everyone out on restart and break with
    several workers, so a missing one is an error at setup, not a warning.
    """
    domain, client_id, project_id = (
        config.zitadel_domain,
        config.zitadel_client_id,
        config.zitadel_project_id,
    )
    if not (domain and client_id and project_id):
        raise ValueError("Zitadel needs zitadel_domain, zitadel_client_id and zitadel_project_id")
    if bool(config.zitadel_api_client_id) != bool(config.zitadel_api_client_secret):
        raise ValueError("zitadel_api_client_id and zitadel_api_client_secret must be set together")
    provider = OpenIDProvider(domain, http_client=http_client)
    verifier = TokenVerifier(
        provider,
        project_id=project_id,
        client_id=client_id,
        api_client_id=config.zitadel_api_client_id,
        api_client_secret=config.zitadel_api_client_secret,
    )
    roles = config.zitadel_required_roles
    if not config.zitadel_redirect_uri:
        return ZitadelAuth(BearerAuth(verifier, roles), APIRouter(), provider)
    if not config.zitadel_session_secret:
        raise ValueError(
            "zitadel_session_secret (FLARE_ZITADEL_SESSION_SECRET) is required in browser mode;"
            ' generate one with: python -c "import secrets; print(secrets.token_hex(32))"'
        )
    origin, callback_path, https = _callback_path(
        config.zitadel_redirect_uri, config.dashboard_path
    )
    signer = CookieSigner(
        config.zitadel_session_secret,
        session_max_age=config.zitadel_session_max_age_seconds,
        session_path=config.dashboard_path,
        login_path=callback_path,
        secure=https,
    )
    flow = LoginFlow(verifier, client_id=client_id, redirect_uri=config.zitadel_redirect_uri)
    browser = BrowserAuth(
        flow=flow,
        signer=signer,
        dashboard_path=config.dashboard_path,
        callback_path=callback_path,
        post_logout_uri=origin + config.dashboard_path,
        required_roles=roles,
    )
    return ZitadelAuth(browser, browser.router, provider)
