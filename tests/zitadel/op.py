"""The local OpenID provider process and helpers that log in against it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import unavailable

OP_DIR = Path(__file__).resolve().parents[1] / "oidc_op"
PROJECT_ID = "100000000000000001"
CLIENT_JWT = "flare-jwt"
CLIENT_OPAQUE = "flare-opaque"
CLIENT_SHORT = "flare-short"
API_CLIENT_ID = "flare-api"
API_CLIENT_SECRET = "flare-api-secret"
USERNAME = "ada"
PASSWORD = "correct horse battery staple"
SUBJECT = "300000000000000001"
EMAIL = "ada@example.test"
ROLE = "flare.viewer"
APP_ORIGIN = "http://localhost:8000"
REDIRECT_URI = f"{APP_ORIGIN}/flare/callback"
SCOPE = f"openid profile email urn:zitadel:iam:org:project:id:{PROJECT_ID}:aud"
READY_TIMEOUT_SECONDS = 20.0


def require_op() -> None:
    """Skip (or fail under CI) when node or the provider's node_modules are missing."""
    if shutil.which("node") is None:
        unavailable("node is not installed")
    if not (OP_DIR / "node_modules" / "oidc-provider").is_dir():
        unavailable("run: npm ci --prefix tests/oidc_op --no-audit --no-fund")


@dataclass
class OPProcess:
    """One running ``node server.mjs``; stopped by its PID."""

    issuer: str
    kid: str
    port: int
    process: subprocess.Popen[str]
    stderr: IO[str]
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, port: int = 0, **overrides: str) -> OPProcess:
        """Spawn the provider and wait for its READY line."""
        env = {
            **os.environ,
            "OP_PORT": str(port),
            "OP_PROJECT_ID": PROJECT_ID,
            "OP_REDIRECT_URIS": REDIRECT_URI,
            "OP_POST_LOGOUT_URIS": f"{APP_ORIGIN}/flare",
            **overrides,
        }
        # Lives as long as the process (closed in stop()), so no context manager.
        stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        process = subprocess.Popen(
            ["node", str(OP_DIR / "server.mjs")],
            cwd=OP_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        assert process.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 0.1)
            if ready:
                line = process.stdout.readline()
                if line.startswith("READY "):
                    info = json.loads(line[6:])
                    port = int(urlsplit(info["issuer"]).port or 0)
                    return cls(info["issuer"], info["kid"], port, process, stderr, overrides)
                if not line and process.poll() is not None:
                    break
        process.kill()
        process.wait()
        process.stdout.close()
        stderr.seek(0)
        output = stderr.read()[-2000:]
        stderr.close()
        raise RuntimeError(f"the OIDC provider did not start: {output}")

    def stop(self) -> None:
        """Terminate this process (by PID) and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.stderr.close()

    def restart(self) -> OPProcess:
        """Stop, then start on the same port: same issuer, new signing key."""
        self.stop()
        return OPProcess.start(self.port, **self.env)


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def login_form_action(page: str) -> str:
    """The login form's action from the provider's HTML."""
    match = re.search(r'<form method="post" action="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


async def submit_login(
    client: httpx.AsyncClient, page: httpx.Response, password: str = PASSWORD
) -> httpx.Response:
    """Post the provider's login form that ``page`` shows."""
    action = page.url.join(login_form_action(page.text))
    return await client.post(action, data={"username": USERNAME, "password": password})


async def obtain_tokens(op: OPProcess, client_id: str = CLIENT_JWT) -> dict[str, Any]:
    """Run Authorization Code + PKCE straight against the provider; return its token response."""
    verifier = secrets.token_urlsafe(48)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": _challenge(verifier),
        "code_challenge_method": "S256",
    }
    async with httpx.AsyncClient(base_url=op.issuer) as client:
        page = await client.get("/oauth/v2/authorize", params=params, follow_redirects=True)
        response = await submit_login(client, page)
        while not response.headers["location"].startswith(APP_ORIGIN):
            response = await client.get(response.url.join(response.headers["location"]))
        code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
        tokens = await client.post(
            "/oauth/v2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "client_id": client_id,
                "code_verifier": verifier,
            },
        )
        tokens.raise_for_status()
        body: dict[str, Any] = tokens.json()
        return body
