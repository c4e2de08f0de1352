"""Authorization Code + PKCE: the authorize URL, the code exchange and the resulting identity."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from fastapi_flare.auth.claims import (
    ProviderUnavailableError,
    TokenError,
    ZitadelClaims,
    extract_roles,
)
from fastapi_flare.auth.provider import ProviderMetadata
from fastapi_flare.auth.session import PendingLogin
from fastapi_flare.auth.tokens import TokenVerifier, jwt_header

logger = logging.getLogger("fastapi_flare")


class LoginError(Exception):
    """A callback that cannot produce a session; carries the HTTP status to answer with."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def login_scope(project_id: str) -> str:
    """OIDC scopes plus Zitadel's: the project in ``aud`` and its roles in the tokens."""
    return (
        "openid profile email"
        f" urn:zitadel:iam:org:project:id:{project_id}:aud"
        " urn:zitadel:iam:org:projects:roles"
    )


def code_challenge(verifier: str) -> str:
    """RFC 7636 S256 challenge for ``verifier`` (authlib's vetted implementation)."""
    challenge: str = create_s256_code_challenge(verifier)
    return challenge


def new_login(next_path: str, clock: Callable[[], float] = time.time) -> PendingLogin:
    """Fresh state, nonce and a 64-character PKCE verifier for one login."""
    return PendingLogin(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        verifier=secrets.token_urlsafe(48),
        next=next_path,
        created=clock(),
    )


def authorize_url(
    metadata: ProviderMetadata,
    login: PendingLogin,
    *,
    client_id: str,
    redirect_uri: str,
    scope: str,
) -> str:
    """Where to send the browser to sign in."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": login.state,
            "nonce": login.nonce,
            "code_challenge": code_challenge(login.verifier),
            "code_challenge_method": "S256",
        }
    )
    separator = "&" if "?" in metadata.authorization_endpoint else "?"
    return f"{metadata.authorization_endpoint}{separator}{query}"


class LoginFlow:
    """Finishes a login: exchanges the code, checks the ID and access tokens, reads userinfo."""

    def __init__(self, verifier: TokenVerifier, *, client_id: str, redirect_uri: str) -> None:
        self.verifier = verifier
        self.client_id = client_id
        self.redirect_uri = redirect_uri

    async def finish(self, login: PendingLogin, code: str) -> ZitadelClaims:
        """Turn an authorization code into the identity the session will hold."""
        tokens = await self._exchange(login, code)
        access_token, id_token = tokens.get("access_token"), tokens.get("id_token")
        if not isinstance(access_token, str) or not isinstance(id_token, str):
            raise LoginError(502, "The identity provider returned no access or ID token.")
        try:
            identity = await self.verifier.decode_jwt(
                id_token,
                audience=self.client_id,
                extra={"nonce": {"essential": True, "value": login.nonce}},
            )
        except TokenError as exc:
            logger.warning("fastapi_flare: ID token rejected: %s", exc)
            raise LoginError(400, "The identity provider's ID token was rejected.") from exc
        # OIDC Core §3.1.3.7: with several audiences, azp must name this client.
        if "azp" in identity and identity["azp"] != self.client_id:
            raise LoginError(400, "The ID token was issued to another application.")
        roles = set(extract_roles(identity, self.verifier.project_id, trust_generic=True))
        # The access token is checked with the same code as bearer mode whenever
        # it can be: always for JWTs, for opaque tokens when introspection is set up.
        if jwt_header(access_token) is not None or self.verifier.can_introspect:
            try:
                access = await self.verifier.access_token(access_token)
            except TokenError as exc:
                logger.warning("fastapi_flare: access token rejected at login: %s", exc)
                raise LoginError(403, "The access token is not valid for this project.") from exc
            if access.subject != identity["sub"]:
                raise LoginError(400, "The access token belongs to another user.")
            roles |= access.roles
        userinfo = await self._userinfo(access_token, identity["sub"])
        roles |= extract_roles(userinfo, self.verifier.project_id, trust_generic=True)
        merged: dict[str, Any] = {**userinfo, **identity}

        def text(name: str) -> str | None:
            value = merged.get(name)
            return value if isinstance(value, str) and value else None

        return ZitadelClaims(
            subject=identity["sub"],
            email=text("email"),
            name=text("name") or text("preferred_username"),
            roles=frozenset(roles),
            raw=merged,
        )

    async def _exchange(self, login: PendingLogin, code: str) -> dict[str, Any]:
        metadata = await self.verifier.provider.metadata()
        try:
            response = await self.verifier.provider.http.post(
                metadata.token_endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.redirect_uri,
                    "client_id": self.client_id,
                    "code_verifier": login.verifier,
                },
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailableError(f"token request failed: {exc}") from exc
        if response.status_code != 200:
            # A replayed, expired or forged code lands here (invalid_grant).
            logger.warning(
                "fastapi_flare: code exchange refused (%s): %s",
                response.status_code,
                response.text[:300],
            )
            raise LoginError(400, "The identity provider refused the authorization code.")
        try:
            body = response.json()
        except ValueError as exc:
            raise ProviderUnavailableError("the token response is not JSON") from exc
        if not isinstance(body, dict):
            raise ProviderUnavailableError("the token response is not a JSON object")
        return body

    async def _userinfo(self, access_token: str, subject: str) -> dict[str, Any]:
        # Zitadel puts profile, email and roles in userinfo unless the app asserts
        # them in the ID token; a failure here only costs the display name.
        metadata = await self.verifier.provider.metadata()
        if metadata.userinfo_endpoint is None:
            return {}
        try:
            response = await self.verifier.provider.http.get(
                metadata.userinfo_endpoint,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
            body = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("fastapi_flare: userinfo failed: %s", exc)
            return {}
        if not isinstance(body, dict):
            logger.warning("fastapi_flare: userinfo answered %s", response.status_code)
            return {}
        if body.get("sub") != subject:
            # OIDC Core §5.3.2: a userinfo response for another subject must be ignored.
            raise LoginError(400, "The userinfo response belongs to another user.")
        return body
