"""Access and ID token validation: JWTs against the JWKS, opaque tokens by introspection."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import httpx
from joserfc import jwt
from joserfc.errors import (
    ClaimError,
    ExpiredTokenError,
    JoseError,
    MissingClaimError,
    SecurityWarning,
)
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jwt import ClaimsOption, JWTClaimsRegistry

from fastapi_flare.auth.claims import (
    ProviderUnavailableError,
    TokenError,
    ZitadelClaims,
    claims_from_mapping,
    issued_to,
)
from fastapi_flare.auth.provider import OpenIDProvider

# Asymmetric only: "none" and HMAC are never accepted, so a public key can
# never double as an HMAC secret.
ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
    | {"EdDSA", "Ed25519"}
)
_KEY_CLASS: dict[str, type[RSAKey | ECKey | OKPKey]] = {
    "RS": RSAKey,
    "PS": RSAKey,
    "ES": ECKey,
    "Ed": OKPKey,
}
DEFAULT_LEEWAY_SECONDS = 60
MAX_TOKEN_CHARS = 16_384
INTROSPECTION_CACHE_SECONDS = 30.0
INTROSPECTION_CACHE_SIZE = 1024


def _b64_json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def jwt_header(token: str) -> dict[str, Any] | None:
    """The JOSE header of a compact JWS, or None when ``token`` is not one."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        return None
    try:
        header = _b64_json(parts[0])
    except (ValueError, UnicodeError):
        return None
    return header if isinstance(header, dict) and "alg" in header else None


def _describe(exc: JoseError) -> str:
    if isinstance(exc, ExpiredTokenError):
        return "the token has expired"
    if isinstance(exc, MissingClaimError):
        return f"the token lacks the {exc.claim} claim"
    if isinstance(exc, ClaimError):
        return f"the token's {exc.claim} claim is not accepted"
    return "the token's claims are not accepted"


class TokenVerifier:
    """Validates tokens issued by one provider for one project."""

    def __init__(
        self,
        provider: OpenIDProvider,
        *,
        project_id: str,
        client_id: str | None,
        leeway: int = DEFAULT_LEEWAY_SECONDS,
        api_client_id: str | None = None,
        api_client_secret: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.project_id = project_id
        self.client_id = client_id
        self.leeway = leeway
        self._api_credentials = (
            (api_client_id, api_client_secret) if api_client_id and api_client_secret else None
        )
        self._clock = clock
        self._introspected: dict[str, tuple[float, dict[str, Any] | None]] = {}

    @property
    def can_introspect(self) -> bool:
        """True when API credentials for introspection are configured."""
        return self._api_credentials is not None

    async def decode_jwt(
        self, token: str, *, audience: str, extra: dict[str, ClaimsOption] | None = None
    ) -> dict[str, Any]:
        """Verify signature, ``iss``, ``aud``, ``exp``/``nbf``/``iat``; return the claims."""
        header = jwt_header(token)
        if header is None:
            raise TokenError("the token is not a signed JWT")
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALLOWED_ALGORITHMS:
            raise TokenError(f"the signing algorithm {alg!r} is not accepted")
        if kid is not None and not isinstance(kid, str):
            raise TokenError("the token's kid is not a string")
        metadata = await self.provider.metadata()
        key = await self.provider.signing_key(kid)
        if key is None:
            raise TokenError("the token is signed with an unknown key")
        if not isinstance(key, _KEY_CLASS[alg[:2]]) or key.alg not in (None, alg):
            raise TokenError("the token's algorithm does not match its key")
        try:
            with warnings.catch_warnings():
                # Zitadel still names Ed25519 signatures "EdDSA", which joserfc flags.
                warnings.simplefilter("ignore", SecurityWarning)
                claims = jwt.decode(token, key, algorithms=[alg]).claims
        except (JoseError, ValueError) as exc:
            raise TokenError("the token signature is invalid") from exc
        registry = JWTClaimsRegistry(
            now=lambda: int(self._clock()),
            leeway=self.leeway,
            iss={"essential": True, "value": metadata.issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            sub={"essential": True},
            **(extra or {}),
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise TokenError(_describe(exc)) from exc
        return claims

    async def access_token(self, token: str) -> ZitadelClaims:
        """Validate an access token (JWT locally, opaque by introspection)."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise TokenError("the token is empty or too long")
        if jwt_header(token) is not None:
            raw = await self.decode_jwt(token, audience=self.project_id)
        elif self.can_introspect:
            raw = await self.introspect(token)
        else:
            raise TokenError(
                "opaque access tokens are not accepted: set the Zitadel app's token type to JWT"
                " or configure API credentials for introspection"
            )
        return claims_from_mapping(
            raw, self.project_id, trust_generic=issued_to(raw, self.client_id)
        )

    async def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 introspection with the API app's credentials, cached briefly."""
        assert self._api_credentials is not None
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock()
        cached = self._introspected.get(digest)
        if cached is not None and cached[0] > now:
            if cached[1] is None:
                raise TokenError("the token is not active")
            return cached[1]
        metadata = await self.provider.metadata()
        raw = await self._introspect_remote(token, metadata.introspection_endpoint)
        result = raw if self._introspection_valid(raw, now, metadata.issuer) else None
        expires = now + INTROSPECTION_CACHE_SECONDS
        if result is not None and isinstance(result.get("exp"), int | float):
            expires = min(expires, float(result["exp"]))
        if len(self._introspected) >= INTROSPECTION_CACHE_SIZE:
            self._introspected.pop(next(iter(self._introspected)))
        self._introspected[digest] = (expires, result)
        if result is None:
            raise TokenError("the token is not active")
        return result

    async def _introspect_remote(self, token: str, endpoint: str | None) -> dict[str, Any]:
        assert self._api_credentials is not None
        if endpoint is None:
            raise ProviderUnavailableError("discovery has no introspection_endpoint")
        client_id, secret = self._api_credentials
        # RFC 6749 §2.3.1: form-encode id and secret before Basic encoding.
        basic = base64.b64encode(f"{quote(client_id, '')}:{quote(secret, '')}".encode()).decode()
        try:
            response = await self.provider.http.post(
                endpoint,
                data={"token": token, "token_type_hint": "access_token"},
                headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
            )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailableError(f"introspection failed: {exc}") from exc
        if not isinstance(body, dict):
            raise ProviderUnavailableError("introspection did not return a JSON object")
        return body

    def _introspection_valid(self, raw: dict[str, Any], now: float, issuer: str) -> bool:
        if raw.get("active") is not True or not isinstance(raw.get("sub"), str):
            return False
        if "iss" in raw and raw["iss"] != issuer:
            return False
        aud = raw.get("aud")
        audiences: Iterable[Any] = aud if isinstance(aud, list) else [aud]
        if self.project_id not in audiences:
            return False
        exp = raw.get("exp")
        return not (isinstance(exp, int | float) and exp <= now - self.leeway)
