"""Security headers on every dashboard response, set once by the router's route class."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No 'unsafe-inline' and no 'unsafe-eval': captured data is attacker-controlled, so
# even an escaping bug must not be able to run script. htmx runs with allowEval off.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: CSRF checks on dashboard actions read Origin/Referer.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
NO_STORE = "no-store"

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def apply_security_headers(response: Response) -> Response:
    """Add the security headers (and no-store unless the route chose caching)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", NO_STORE)
    return response


class FlareRoute(APIRoute):
    """An APIRoute whose responses, and HTTP errors (auth failures too), carry the headers."""

    def get_route_handler(self) -> Handler:
        """Wrap FastAPI's handler, which also runs the router's auth dependency."""
        handler = super().get_route_handler()

        async def secured(request: Request) -> Response:
            try:
                response = await handler(request)
            except HTTPException as exc:
                # The app's exception handler builds the response; headers ride along.
                exc.headers = {**SECURITY_HEADERS, "Cache-Control": NO_STORE, **(exc.headers or {})}
                raise
            return apply_security_headers(response)

        return secured


def with_security_headers(app: ASGIApp) -> ASGIApp:
    """``app``, with the security headers (and no-store) added where a response lacks them.

    Serves every request under the dashboard path, so responses no dashboard route
    builds carry them too: the router's slash redirects, 404s and 405s.
    """
    defaults = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in {**SECURITY_HEADERS, "Cache-Control": NO_STORE}.items()
    ]

    async def secured(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or ())
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in defaults if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_headers)

    return secured
