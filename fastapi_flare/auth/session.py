"""Signed cookies: the dashboard session and the short-lived pending-login state."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.responses import Response

from fastapi_flare.auth.claims import ZitadelClaims

SESSION_COOKIE = "flare_session"
LOGIN_COOKIE = "flare_login"
LOGIN_STATE_MAX_AGE_SECONDS = 600
MIN_SECRET_CHARS = 32
# Browsers drop cookies over ~4 KB; keep the session well below that.
MAX_SESSION_ROLES = 50
MAX_CLAIM_CHARS = 200


@dataclass(frozen=True)
class PendingLogin:
    """What the callback needs to finish one login: state, nonce, PKCE verifier, target."""

    state: str
    nonce: str
    verifier: str
    next: str
    created: float


def _text(value: Any) -> str | None:
    return value[:MAX_CLAIM_CHARS] if isinstance(value, str) and value else None


class CookieSigner:
    """Signs, checks and sets the two cookies; a bad or expired one reads as absent."""

    def __init__(
        self,
        secret: str,
        *,
        session_max_age: int,
        session_path: str,
        login_path: str,
        secure: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(
                f"zitadel_session_secret must be at least {MIN_SECRET_CHARS} characters; generate"
                ' one with: python -c "import secrets; print(secrets.token_hex(32))"'
            )
        # Distinct salts: a login-state cookie can never be replayed as a session.
        self._session = URLSafeTimedSerializer(secret, salt="fastapi-flare.zitadel.session")
        self._login = URLSafeTimedSerializer(secret, salt="fastapi-flare.zitadel.login")
        self.session_max_age = session_max_age
        self.session_path = session_path
        self.login_path = login_path
        self.secure = secure
        self._clock = clock

    def dump_session(self, claims: ZitadelClaims) -> str:
        """Encode the small identity that the session keeps (never tokens)."""
        payload = {
            "sub": claims.subject,
            "email": _text(claims.email),
            "name": _text(claims.name),
            "roles": sorted(claims.roles)[:MAX_SESSION_ROLES],
            # Checked against our own clock too, not only itsdangerous' timestamp.
            "exp": int(self._clock()) + self.session_max_age,
        }
        return self._session.dumps(payload)

    def load_session(self, value: str | None) -> ZitadelClaims | None:
        """The session's identity, or None when the cookie is missing, forged or expired."""
        if not value:
            return None
        try:
            payload = self._session.loads(value, max_age=self.session_max_age)
        except (BadData, ValueError, TypeError):
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("sub"), str):
            return None
        exp = payload.get("exp")
        if not isinstance(exp, int) or exp <= self._clock():
            return None
        roles = payload.get("roles")
        return ZitadelClaims(
            subject=payload["sub"],
            email=_text(payload.get("email")),
            name=_text(payload.get("name")),
            roles=frozenset(r for r in roles if isinstance(r, str))
            if isinstance(roles, list)
            else frozenset(),
            raw=payload,
        )

    def dump_login(self, login: PendingLogin) -> str:
        """Encode one pending login."""
        return self._login.dumps(
            [login.state, login.nonce, login.verifier, login.next, login.created]
        )

    def load_login(self, value: str | None) -> PendingLogin | None:
        """The pending login, or None when missing, forged or older than the time limit."""
        if not value:
            return None
        try:
            row = self._login.loads(value, max_age=LOGIN_STATE_MAX_AGE_SECONDS)
        except (BadData, ValueError, TypeError):
            return None
        if not (
            isinstance(row, list)
            and len(row) == 5
            and all(isinstance(item, str) for item in row[:4])
            and isinstance(row[4], int | float)
            and row[4] >= self._clock() - LOGIN_STATE_MAX_AGE_SECONDS
        ):
            return None
        return PendingLogin(row[0], row[1], row[2], row[3], float(row[4]))

    def set_session(self, response: Response, claims: ZitadelClaims) -> None:
        """Attach the session cookie, scoped to the dashboard path."""
        response.set_cookie(
            SESSION_COOKIE,
            self.dump_session(claims),
            max_age=self.session_max_age,
            path=self.session_path,
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def clear_session(self, response: Response) -> None:
        """Expire the session cookie."""
        response.delete_cookie(
            SESSION_COOKIE,
            path=self.session_path,
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def set_login(self, response: Response, login: PendingLogin) -> None:
        """Attach the pending-login cookie, scoped to the callback path.

        One login is pending at a time: the cookie is only sent to the callback,
        so the login route cannot read and extend it. SameSite=Lax still sends
        it on the provider's top-level redirect back to the callback.
        """
        response.set_cookie(
            LOGIN_COOKIE,
            self.dump_login(login),
            max_age=LOGIN_STATE_MAX_AGE_SECONDS,
            path=self.login_path,
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def clear_login(self, response: Response) -> None:
        """Expire the pending-login cookie: a state is good for one callback only."""
        response.delete_cookie(
            LOGIN_COOKIE, path=self.login_path, secure=self.secure, httponly=True, samesite="lax"
        )
