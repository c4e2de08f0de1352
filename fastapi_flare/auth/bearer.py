"""``Authorization: Bearer`` checking, with RFC 6750 error responses."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from fastapi import HTTPException, Request

from fastapi_flare.auth.claims import (
    InsufficientRoleError,
    ProviderUnavailableError,
    TokenError,
    ZitadelClaims,
    require_roles,
)
from fastapi_flare.auth.tokens import TokenVerifier

logger = logging.getLogger("fastapi_flare")

REALM = "fastapi-flare"
# RFC 6750 §2.1 b64token: what a bearer credential may look like on the wire.
_TOKEN68 = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")


def bearer_token(request: Request) -> str | None:
    """The bearer credential of the request, None when there is no Authorization header.

    A header that is present but not ``Bearer <token>`` raises :class:`TokenError`.
    """
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or not _TOKEN68.match(value):
        raise TokenError("the Authorization header is not 'Bearer <token>'")
    return value


def _challenge(error: str | None = None, description: str | None = None) -> str:
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        # Quoted-string: keep to printable ASCII without quotes or backslashes.
        clean = "".join(ch for ch in description if 32 <= ord(ch) < 127 and ch not in '"\\')
        parts.append(f'error_description="{clean}"')
    return "Bearer " + ", ".join(parts)


def unauthorized(description: str | None = None) -> HTTPException:
    """401 with a ``WWW-Authenticate: Bearer`` challenge."""
    error = "invalid_token" if description else None
    return HTTPException(
        status_code=401,
        detail=description or "Authentication required",
        headers={"WWW-Authenticate": _challenge(error, description)},
    )


def forbidden() -> HTTPException:
    """403 for a valid identity that lacks the required project role."""
    message = "a required project role is missing"
    return HTTPException(
        status_code=403,
        detail="Forbidden: " + message,
        headers={"WWW-Authenticate": _challenge("insufficient_scope", message)},
    )


def unavailable(exc: Exception) -> HTTPException:
    """503 when the identity provider cannot be asked; logged, not leaked."""
    logger.error("fastapi_flare: identity provider unavailable: %s", exc)
    return HTTPException(status_code=503, detail="The identity provider is unavailable")


async def check_bearer(
    verifier: TokenVerifier, token: str, required_roles: Iterable[str]
) -> ZitadelClaims:
    """Validate ``token`` and its roles, turning failures into HTTP errors."""
    try:
        claims = await verifier.access_token(token)
        require_roles(claims, required_roles)
    except TokenError as exc:
        raise unauthorized(str(exc)) from exc
    except InsufficientRoleError as exc:
        raise forbidden() from exc
    except ProviderUnavailableError as exc:
        raise unavailable(exc) from exc
    return claims


class BearerAuth:
    """FastAPI dependency: requires a valid bearer access token, returns its claims."""

    def __init__(self, verifier: TokenVerifier, required_roles: Iterable[str] = ()) -> None:
        self.verifier = verifier
        self.required_roles = tuple(required_roles)

    async def __call__(self, request: Request) -> ZitadelClaims:
        """Authenticate one request."""
        try:
            token = bearer_token(request)
        except TokenError as exc:
            raise unauthorized(str(exc)) from exc
        if token is None:
            raise unauthorized()
        return await check_bearer(self.verifier, token, self.required_roles)

    async def aclose(self) -> None:
        """Close the provider's HTTP client."""
        await self.verifier.provider.aclose()
