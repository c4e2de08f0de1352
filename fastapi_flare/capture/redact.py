"""Masking of credentials in headers, query strings, bodies and contexts."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode

REDACTED = "[redacted]"

# Headers that always carry credentials, whatever their value looks like.
DEFAULT_REDACTED_HEADERS: frozenset[str] = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
        "x-csrf-token",
        "x-xsrf-token",
    }
)

# A header, query parameter or field whose lowercased name contains one of
# these is masked too (``X-Refresh-Token``, ``api_key``, ``db_password``...).
DEFAULT_SECRET_NAME_PARTS: tuple[str, ...] = (
    "token",
    "secret",
    "key",
    "password",
    "passwd",
    "pwd",
    "credential",
    "session",
    "cookie",
    "authorization",
    "signature",
)

# Names that contain a secret part but are harmless and useful to keep.
DEFAULT_ALLOWED_NAMES: frozenset[str] = frozenset({"keyword", "keywords", "monkey", "turkey"})


class Redactor:
    """Decides which names are secret and masks them; configured once per app."""

    def __init__(
        self,
        extra_headers: Iterable[str] = (),
        extra_fields: Iterable[str] = (),
    ) -> None:
        extra_h = {name.strip().lower() for name in extra_headers if name.strip()}
        extra_f = {name.strip().lower() for name in extra_fields if name.strip()}
        self._headers = DEFAULT_REDACTED_HEADERS | extra_h
        self._exact_fields = frozenset(extra_f)
        self._parts = DEFAULT_SECRET_NAME_PARTS
        self._cache: dict[str, bool] = {}

    def is_secret(self, name: str) -> bool:
        """True when a field or parameter called ``name`` holds a secret."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        lowered = name.lower().replace("-", "_")
        secret = (
            lowered in self._exact_fields
            or name.lower() in self._headers
            or (
                lowered not in DEFAULT_ALLOWED_NAMES
                and any(part in lowered for part in self._parts)
            )
        )
        if len(self._cache) < 4096:  # bounded: names come from attackers too
            self._cache[name] = secret
        return secret

    def headers(self, raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
        """Decode ASGI headers into a dict with credentials masked."""
        result: dict[str, str] = {}
        for raw_name, raw_value in raw:
            name = raw_name.decode("latin-1").lower()
            value = (
                REDACTED if self.is_secret(name) else self._mask_url(raw_value.decode("latin-1"))
            )
            # Repeated headers are joined like HTTP does, so none is lost.
            result[name] = f"{result[name]}, {value}" if name in result else value
        return result

    def _mask_url(self, value: str) -> str:
        """Mask secret query parameters inside URL-like header values (Referer, ...)."""
        if "?" not in value or "=" not in value:
            return value
        base, _, query = value.partition("?")
        fragment = ""
        if "#" in query:
            query, _, fragment = query.partition("#")
            fragment = "#" + fragment
        return f"{base}?{self.query_string(query)}{fragment}"

    def query_string(self, query: str) -> str:
        """Mask the values of secret parameters in a query string."""
        if not query:
            return query
        pairs = parse_qsl(query, keep_blank_values=True)
        return urlencode(
            [(key, REDACTED if self.is_secret(key) else value) for key, value in pairs],
            safe="[]",
        )
