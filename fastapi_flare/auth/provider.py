"""Discovery and signing keys of the OpenID provider, fetched lazily and cached."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from fastapi_flare.auth.claims import ProviderUnavailableError

logger = logging.getLogger("fastapi_flare")

DISCOVERY_PATH = "/.well-known/openid-configuration"
DISCOVERY_TTL_SECONDS = 3600.0
JWKS_TTL_SECONDS = 300.0
# An unknown kid may mean rotation; refetch, but at most this often, so that
# tokens with random kids cannot turn every request into a call to Zitadel.
JWKS_MIN_REFETCH_SECONDS = 10.0
HTTP_TIMEOUT_SECONDS = 10.0

AsymmetricKey = RSAKey | ECKey | OKPKey
_KEY_TYPES: Mapping[str, Callable[[dict[str, Any]], AsymmetricKey]] = {
    "RSA": RSAKey.import_key,
    "EC": ECKey.import_key,
    "OKP": OKPKey.import_key,
}


@dataclass(frozen=True)
class ProviderMetadata:
    """The endpoints that discovery announces."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    introspection_endpoint: str | None = None
    end_session_endpoint: str | None = None


def _parse_metadata(document: Any, origin: str) -> ProviderMetadata:
    if not isinstance(document, dict):
        raise ProviderUnavailableError("discovery did not return a JSON object")

    def text(name: str, required: bool) -> str | None:
        value = document.get(name)
        if isinstance(value, str) and value.startswith(("https://", "http://")):
            return value
        if required:
            raise ProviderUnavailableError(f"discovery has no usable {name!r}")
        return None

    issuer = text("issuer", True)
    # OpenID Connect Discovery §4.3: the issuer must be the URL discovery was
    # fetched from; anything else would let one provider speak for another.
    if issuer is None or issuer.rstrip("/") != origin:
        raise ProviderUnavailableError(f"discovery issuer {issuer!r} does not match {origin!r}")
    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=text("authorization_endpoint", True) or "",
        token_endpoint=text("token_endpoint", True) or "",
        jwks_uri=text("jwks_uri", True) or "",
        userinfo_endpoint=text("userinfo_endpoint", False),
        introspection_endpoint=text("introspection_endpoint", False),
        end_session_endpoint=text("end_session_endpoint", False),
    )


def _parse_keys(document: Any) -> dict[str | None, AsymmetricKey]:
    keys: dict[str | None, AsymmetricKey] = {}
    raw_keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(raw_keys, list):
        raise ProviderUnavailableError("the JWKS document has no 'keys' list")
    for raw in raw_keys:
        if not isinstance(raw, dict) or raw.get("use", "sig") != "sig":
            continue
        # Symmetric ("oct") keys are never taken from a JWKS: a public document
        # must not be able to hand us an HMAC secret.
        importer = _KEY_TYPES.get(str(raw.get("kty")))
        if importer is None:
            continue
        try:
            key = importer(raw)
        except (JoseError, ValueError, TypeError) as exc:
            logger.warning("fastapi_flare: skipping unusable JWKS key %r: %s", raw.get("kid"), exc)
            continue
        kid = raw.get("kid")
        keys[kid if isinstance(kid, str) else None] = key
    if not keys:
        logger.error("fastapi_flare: the provider's JWKS holds no usable signing key")
    return keys


class OpenIDProvider:
    """One provider (a Zitadel instance): cached discovery, cached JWKS, one HTTP client."""

    def __init__(
        self,
        origin: str,
        *,
        http_client: httpx.AsyncClient | None = None,
        discovery_ttl: float = DISCOVERY_TTL_SECONDS,
        jwks_ttl: float = JWKS_TTL_SECONDS,
        jwks_min_refetch: float = JWKS_MIN_REFETCH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.origin = origin.rstrip("/")
        self._client = http_client
        self._owns_client = http_client is None
        self._discovery_ttl = discovery_ttl
        self._jwks_ttl = jwks_ttl
        self._jwks_min_refetch = jwks_min_refetch
        self._clock = clock
        self._lock = asyncio.Lock()
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: dict[str | None, AsymmetricKey] | None = None
        self._keys_at = 0.0
        self._forced_at: float | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        """The HTTP client used for every call to the provider."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS, follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _get_json(self, url: str) -> Any:
        try:
            response = await self.http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailableError(f"GET {url} failed: {exc}") from exc

    def _metadata_fresh(self) -> bool:
        return (
            self._metadata is not None and self._clock() - self._metadata_at < self._discovery_ttl
        )

    async def metadata(self) -> ProviderMetadata:
        """Discovery, refreshed after its TTL; a stale copy is kept if the refresh fails."""
        if self._metadata is not None and self._metadata_fresh():
            return self._metadata
        async with self._lock:
            return await self._load_metadata()

    async def _load_metadata(self) -> ProviderMetadata:
        # Called with the lock held.
        if self._metadata is not None and self._metadata_fresh():
            return self._metadata
        try:
            document = await self._get_json(self.origin + DISCOVERY_PATH)
            self._metadata = _parse_metadata(document, self.origin)
            self._metadata_at = self._clock()
        except ProviderUnavailableError:
            if self._metadata is None:
                raise
            # Try again soon, not on every request while the provider is down.
            self._metadata_at = self._clock() - self._discovery_ttl + self._jwks_min_refetch
            logger.warning("fastapi_flare: discovery refresh failed; using the cached copy")
        return self._metadata

    async def _refresh_keys(self) -> None:
        # Called with the lock held.
        metadata = await self._load_metadata()
        try:
            self._keys = _parse_keys(await self._get_json(metadata.jwks_uri))
            self._keys_at = self._clock()
        except ProviderUnavailableError:
            if self._keys is None:
                raise
            self._keys_at = self._clock() - self._jwks_ttl + self._jwks_min_refetch
            logger.warning("fastapi_flare: JWKS refresh failed; using the cached keys")

    def _lookup(self, kid: str | None) -> AsymmetricKey | None:
        keys = self._keys or {}
        if kid is None:
            # Without a kid only an unambiguous single key may be used.
            return next(iter(keys.values())) if len(keys) == 1 else None
        return keys.get(kid)

    async def signing_key(self, kid: str | None) -> AsymmetricKey | None:
        """The key for ``kid``; an unknown kid triggers one rate-limited JWKS refetch."""
        if self._keys is None or self._clock() - self._keys_at >= self._jwks_ttl:
            async with self._lock:
                if self._keys is None or self._clock() - self._keys_at >= self._jwks_ttl:
                    await self._refresh_keys()
        key = self._lookup(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._lookup(kid)
            if key is not None:
                return key
            now = self._clock()
            if self._forced_at is not None and now - self._forced_at < self._jwks_min_refetch:
                return None
            self._forced_at = now
            await self._refresh_keys()
            return self._lookup(kid)
