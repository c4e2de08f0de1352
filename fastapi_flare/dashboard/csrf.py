"""CSRF protection for the dashboard's POST actions.

Each browser gets a random id in an HttpOnly, SameSite=Strict cookie scoped to the
dashboard path; forms carry ``HMAC(secret, id)``. A POST passes only when the
token matches its cookie and the browser says the request is same-origin
(``Origin`` / ``Sec-Fetch-Site``, ``Referer`` as a fallback). The secret is shared
by every worker process (it lives in the storage), so any process accepts a
token another one issued.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "flare_csrf"
FORM_FIELD = "csrf_token"
HEADER_NAME = "x-csrf-token"
COOKIE_MAX_AGE_SECONDS = 30 * 24 * 3600
SAFE_FETCH_SITES = frozenset({"same-origin", "none"})  # "none": typed or bookmarked by the user
_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_TOKEN = re.compile(r"^[0-9a-f]{64}$")

KeySource = Callable[[], Awaitable[bytes]]


class CsrfError(HTTPException):
    """403: the request may come from another site."""

    def __init__(self, reason: str) -> None:
        super().__init__(status_code=403, detail=f"CSRF check failed: {reason}")


@dataclass(frozen=True, slots=True)
class CsrfToken:
    """The token to put in forms, and the cookie value to set when the browser had none."""

    token: str
    new_cookie: str | None


def _host_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return parts.netloc.lower() if parts.scheme in ("http", "https") and parts.netloc else None


def same_origin(request: Request) -> str | None:
    """None when the browser's headers say same-origin, else the reason it is not.

    Hosts are compared without the scheme: behind a TLS-terminating proxy the app
    may see http while the browser sends an https Origin for the same host.
    """
    host = request.headers.get("host", "").lower()
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.lower() not in SAFE_FETCH_SITES:
        return f"cross-site request (Sec-Fetch-Site: {site[:20]})"
    origin = request.headers.get("origin")
    if origin is not None:
        return None if _host_of(origin) == host else "the Origin is another site"
    referer = request.headers.get("referer")
    if referer is not None and _host_of(referer) != host:
        return "the Referer is another site"
    return None


class CsrfGuard:
    """Issues and checks tokens for one dashboard (cookie scoped to ``cookie_path``)."""

    def __init__(self, key_source: KeySource, cookie_path: str) -> None:
        self._key_source = key_source
        self._key: bytes | None = None
        self.cookie_path = cookie_path

    async def _signing_key(self) -> bytes:
        if self._key is None:
            self._key = await self._key_source()
        return self._key

    async def _sign(self, browser_id: str) -> str:
        key = await self._signing_key()
        return hmac.new(key, b"flare-csrf\x00" + browser_id.encode(), hashlib.sha256).hexdigest()

    async def token(self, request: Request) -> CsrfToken:
        """The form token for this browser (a new browser id when it has none)."""
        current = request.cookies.get(COOKIE_NAME, "")
        if _COOKIE_VALUE.match(current):
            return CsrfToken(await self._sign(current), None)
        fresh = secrets.token_urlsafe(32)
        return CsrfToken(await self._sign(fresh), fresh)

    def set_cookie(self, request: Request, response: Response, token: CsrfToken) -> None:
        """Store a new browser id (no-op when the browser already had one)."""
        if token.new_cookie is None:
            return
        response.set_cookie(
            COOKIE_NAME,
            token.new_cookie,
            max_age=COOKIE_MAX_AGE_SECONDS,
            path=self.cookie_path,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )

    async def verify(self, request: Request, submitted: str | None) -> None:
        """Raise ``CsrfError`` (403) unless the request is same-origin with a valid token."""
        reason = same_origin(request)
        if reason is not None:
            raise CsrfError(reason)
        browser_id = request.cookies.get(COOKIE_NAME, "")
        if not _COOKIE_VALUE.match(browser_id):
            raise CsrfError("no CSRF cookie; reload the page and try again")
        token = submitted or request.headers.get(HEADER_NAME) or ""
        if not _TOKEN.match(token):
            raise CsrfError("missing or malformed token")
        if not hmac.compare_digest(token, await self._sign(browser_id)):
            raise CsrfError("the token does not match this browser")
