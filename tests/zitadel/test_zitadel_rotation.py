"""Key rotation: the provider restarts on the same port with a new signing key."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import Depends, FastAPI

from fastapi_flare.zitadel import ZitadelClaims, make_zitadel_dependency
from tests.zitadel.apps import app_client
from tests.zitadel.op import CLIENT_JWT, PROJECT_ID, OPProcess, obtain_tokens, require_op

pytestmark = pytest.mark.oidc


@pytest.fixture
def rotating_op() -> Iterator[list[OPProcess]]:
    """A provider of its own; the test may replace it, the last one is stopped."""
    require_op()
    processes = [OPProcess.start()]
    yield processes
    processes[-1].stop()


async def test_new_key_is_picked_up_and_the_old_one_dropped(
    rotating_op: list[OPProcess],
) -> None:
    first = rotating_op[0]
    fetches: list[str] = []

    async def count(request: httpx.Request) -> None:
        if request.url.path == "/oauth/v2/keys":
            fetches.append(request.url.path)

    async with httpx.AsyncClient(event_hooks={"request": [count]}) as http:
        dependency = make_zitadel_dependency(first.issuer, CLIENT_JWT, PROJECT_ID, http_client=http)
        app = FastAPI()

        @app.get("/me")
        async def me(
            claims: ZitadelClaims = Depends(dependency),  # noqa: B008 - FastAPI idiom
        ) -> str:
            return claims.subject

        async def status(token: str) -> int:
            async with app_client(app) as client:
                response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
                return response.status_code

        old_token = (await obtain_tokens(first))["access_token"]
        assert await status(old_token) == 200

        second = first.restart()
        rotating_op.append(second)
        assert (second.issuer, second.port) == (first.issuer, first.port)
        assert second.kid != first.kid

        new_token = (await obtain_tokens(second))["access_token"]
        assert await status(new_token) == 200
        assert len(fetches) == 2
        # The retired key is gone from the JWKS, and the refetch is rate-limited.
        assert await status(old_token) == 401
        assert len(fetches) == 2
