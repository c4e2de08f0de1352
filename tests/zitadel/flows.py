"""Steps of a browser login that the tests drive by hand, hop by hop."""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.zitadel.op import APP_ORIGIN, submit_login


def set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    """Set-Cookie headers of one response, by cookie name."""
    cookies: dict[str, SimpleCookie] = {}
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            cookies[name] = cookie
    return cookies


async def log_in(client: httpx.AsyncClient, path: str = "/flare") -> httpx.Response:
    """Open ``path``, sign in on the provider's form, follow back to the app."""
    page = await client.get(path, follow_redirects=True)
    assert page.status_code == 200
    assert page.url.host == "127.0.0.1", page.url
    return await follow(client, await submit_login(client, page))


async def follow(client: httpx.AsyncClient, response: httpx.Response) -> httpx.Response:
    """Follow redirects one by one (so the tests can see every hop)."""
    while response.is_redirect:
        response = await client.get(response.url.join(response.headers["location"]))
    return response


async def callback_url(client: httpx.AsyncClient, authorize: str) -> str:
    """Sign in at the provider's ``authorize`` URL; return the app callback it redirects to."""
    form = await client.get(authorize, follow_redirects=True)
    hop = await submit_login(client, form)
    while not hop.headers["location"].startswith(APP_ORIGIN):
        hop = await client.get(hop.url.join(hop.headers["location"]))
    return str(hop.headers["location"])


async def pending_state(client: httpx.AsyncClient) -> str:
    """Start a login and return the state it sent to the provider."""
    start = await client.get("/flare/auth/login")
    return parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
