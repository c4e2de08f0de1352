"""Browser mode: login, callback and logout routes, and the session-checking dependency."""

from __future__ import annotations

import hmac
import html
import logging
from collections.abc import Iterable
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, HTTPException, Request
from starlette.datastructures import QueryParams
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fastapi_flare.auth.bearer import bearer_token, check_bearer, unauthorized
from fastapi_flare.auth.claims import ProviderUnavailableError, TokenError, ZitadelClaims
from fastapi_flare.auth.login import LoginError, LoginFlow, authorize_url, login_scope, new_login
from fastapi_flare.auth.redirects import safe_next
from fastapi_flare.auth.session import LOGIN_COOKIE, SESSION_COOKIE, CookieSigner, PendingLogin
from fastapi_flare.dashboard.security import FlareRoute

logger = logging.getLogger("fastapi_flare")

NO_STORE = {"Cache-Control": "no-store"}


def _page(status_code: int, title: str, message: str, link: tuple[str, str] | None) -> Response:
    action = f'<p><a href="{html.escape(link[0])}">{html.escape(link[1])}</a></p>' if link else ""
    body = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body><main>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>{action}</main></body></html>"
    )
    return HTMLResponse(body, status_code=status_code, headers=NO_STORE)


class BrowserAuth:
    """PKCE login for people: a signed session cookie guards the dashboard."""

    def __init__(
        self,
        *,
        flow: LoginFlow,
        signer: CookieSigner,
        dashboard_path: str,
        callback_path: str,
        post_logout_uri: str,
        required_roles: Iterable[str] = (),
    ) -> None:
        self.flow = flow
        self.signer = signer
        self.dashboard_path = dashboard_path
        self.callback_path = callback_path
        self.login_path = f"{dashboard_path}/auth/login"
        self.logout_path = f"{dashboard_path}/auth/logout"
        self.post_logout_uri = post_logout_uri
        self.required_roles = tuple(required_roles)
        # The dashboard's route class: login pages get the same CSP and framing rules.
        self.router = APIRouter(route_class=FlareRoute)
        self.router.add_api_route(self.login_path, self.login, methods=["GET"])
        self.router.add_api_route(self.callback_path, self.callback, methods=["GET"])
        self.router.add_api_route(self.logout_path, self.logout, methods=["GET", "POST"])
        for route in self.router.routes:
            route.include_in_schema = False  # type: ignore[attr-defined]

    def _safe(self, target: str | None) -> str:
        return safe_next(target, self.dashboard_path, exclude=(self.callback_path,))

    def login_url(self, next_path: str) -> str:
        """The login route, remembering where to come back to."""
        return f"{self.login_path}?{urlencode({'next': self._safe(next_path)})}"

    async def __call__(self, request: Request) -> ZitadelClaims:
        """The dashboard dependency: a valid session, or a bearer token, else go log in."""
        # Only a Bearer header is ours: a proxy's Basic auth must not hide the session.
        if request.headers.get("authorization", "").lstrip()[:7].lower() == "bearer ":
            try:
                token = bearer_token(request)
            except TokenError as exc:
                raise unauthorized(str(exc)) from exc
            if token is not None:
                return await check_bearer(self.flow.verifier, token, self.required_roles)
        claims = self.signer.load_session(request.cookies.get(SESSION_COOKIE))
        if claims is not None:
            if not claims.has_any_role(self.required_roles):
                raise HTTPException(403, "Forbidden: a required project role is missing")
            return claims
        raise self._login_required(request)

    def _login_required(self, request: Request) -> HTTPException:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.headers.get("hx-request") == "true":
            # htmx would swap a redirect's target into the page; tell it to navigate
            # instead, back to the page the user sees rather than the fragment URL.
            current = urlsplit(request.headers.get("hx-current-url", ""))
            page = current.path + (f"?{current.query}" if current.query else "")
            headers = {"HX-Redirect": self.login_url(page or self.dashboard_path), **NO_STORE}
            return HTTPException(401, "Login required", headers=headers)
        if request.method in ("GET", "HEAD"):
            headers = {"Location": self.login_url(here), **NO_STORE}
            return HTTPException(303, "Login required", headers=headers)
        return HTTPException(401, "Login required", headers=NO_STORE)

    async def login(self, request: Request) -> Response:
        """Start Authorization Code + PKCE: remember state, nonce and verifier, go to Zitadel."""
        login = new_login(self._safe(request.query_params.get("next")))
        try:
            metadata = await self.flow.verifier.provider.metadata()
        except ProviderUnavailableError as exc:
            logger.error("fastapi_flare: cannot start login: %s", exc)
            return _page(
                503, "Sign-in unavailable", "The identity provider cannot be reached.", None
            )
        url = authorize_url(
            metadata,
            login,
            client_id=self.flow.client_id,
            redirect_uri=self.flow.redirect_uri,
            scope=login_scope(self.flow.verifier.project_id),
        )
        response = RedirectResponse(url, status_code=303, headers=NO_STORE)
        self.signer.set_login(response, login)
        return response

    async def callback(self, request: Request) -> Response:
        """Check state, exchange the code, open the session, go back to the page asked for."""
        params = request.query_params
        login = self.signer.load_login(request.cookies.get(LOGIN_COOKIE))
        state = params.get("state") or ""
        restart = (self.login_path, "Sign in again")
        if login is None or not hmac.compare_digest(state.encode(), login.state.encode()):
            # Forged, replayed or expired: the pending login (if any) stays for its real callback.
            return _page(
                400, "Sign-in failed", "The sign-in request is unknown or expired.", restart
            )
        try:
            response = await self._finish(login, params)
        except LoginError as exc:
            response = _page(exc.status_code, "Sign-in failed", exc.message, restart)
        except ProviderUnavailableError as exc:
            logger.error("fastapi_flare: login failed: %s", exc)
            response = _page(
                502, "Sign-in failed", "The identity provider cannot be reached.", None
            )
        self.signer.clear_login(response)
        return response

    async def _finish(self, login: PendingLogin, params: QueryParams) -> Response:
        error = params.get("error")
        if error is not None:
            logger.warning("fastapi_flare: sign-in error from the provider: %s", error[:100])
            raise LoginError(400, f"The identity provider reported: {error[:100]}")
        metadata = await self.flow.verifier.provider.metadata()
        # RFC 9207: when the provider names itself, it must be the one we asked.
        issuer = params.get("iss")
        if issuer is not None and issuer != metadata.issuer:
            raise LoginError(400, "The response came from another identity provider.")
        code = params.get("code")
        if not code:
            raise LoginError(400, "The response carries no authorization code.")
        claims = await self.flow.finish(login, code)
        if not claims.has_any_role(self.required_roles):
            raise LoginError(403, "Your account holds none of the roles this dashboard requires.")
        response = RedirectResponse(login.next, status_code=303, headers=NO_STORE)
        self.signer.set_session(response, claims)
        return response

    async def logout(self, request: Request) -> Response:
        """Drop the session and end the provider's session when it offers that."""
        target = self.login_path
        try:
            metadata = await self.flow.verifier.provider.metadata()
        except ProviderUnavailableError:
            metadata = None
        if metadata is not None and metadata.end_session_endpoint:
            # client_id is enough for Zitadel to honour post_logout_redirect_uri.
            query = urlencode(
                {"client_id": self.flow.client_id, "post_logout_redirect_uri": self.post_logout_uri}
            )
            separator = "&" if "?" in metadata.end_session_endpoint else "?"
            target = f"{metadata.end_session_endpoint}{separator}{query}"
        response = RedirectResponse(target, status_code=303, headers=NO_STORE)
        self.signer.clear_session(response)
        return response

    async def aclose(self) -> None:
        """Close the provider's HTTP client."""
        await self.flow.verifier.provider.aclose()
