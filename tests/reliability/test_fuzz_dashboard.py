"""Fuzzing every dashboard route's query string, path values and the issue actions form.

Routes come from ``app.routes``; parameter names from the forms the pages render
plus the cursors and filters the views read. Oracle: never a 5xx, the security
headers on every answer, and a POST action never redirects off the dashboard.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st

from fastapi_flare.queue import push_log
from fastapi_flare.runtime import FlareRuntime
from tests.helpers import client, lifespan, wait_until
from tests.reliability.faults import record
from tests.reliability.hostile import FUZZ, URL_TEXT
from tests.reliability.test_routes_security import (
    BASE,
    assert_security_headers,
    guarded_app,
    walk,
)

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

# Filters, cursors and switches the views read from the query string.
KNOWN_PARAMS = [
    "level", "event", "q", "range", "since", "until", "fingerprint", "route", "before",
    "after", "limit", "size", "page", "method", "status", "sort", "order", "v", "next",
    "refresh", "view",
]  # fmt: skip
HX_TARGETS = [None, "results", "cards", "storage", "modal", "issues", "issue_head", "x\x00"]


@dataclass
class Board:
    """A running dashboard with some data, its routes and what the fuzz saw."""

    app: FastAPI
    runtime: FlareRuntime
    http: httpx.AsyncClient
    get_routes: list[str]
    params: list[str]
    csrf_token: str = ""
    fingerprints: list[str] = field(default_factory=list)
    examples: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def saw(self, response: httpx.Response) -> None:
        """Count one answer."""
        self.examples += 1
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1


async def form_names(http: httpx.AsyncClient, urls: list[str]) -> set[str]:
    """Names of every form control on the given pages."""
    names: set[str] = set()
    for url in urls:
        soup = BeautifulSoup((await http.get(url)).text, "html.parser")
        names |= {str(el["name"]) for el in soup.select("[name]") if el.name != "meta"}
    return names


@pytest.fixture
async def board(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Board]:
    """The dashboard of an app that captured a few different failures."""
    app, runtime = guarded_app(tmp_path, dashboard_auth_dependency=None)
    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set)
        for path in ("/boom", "/items/999", "/secure", "/items/abc"):
            await http.get(path, params={"token": "t", "q": "x"})
        await push_log(runtime.config, event="custom", message="m", context={"a": [1, 2]})
        queue = runtime.queue
        await wait_until(lambda: queue.depth == 0 and queue.written == queue.accepted)
        routes = sorted({path for method, path in walk(app.routes) if method == "GET"})
        routes = [r for r in routes if r == BASE or r.startswith(BASE + "/")]
        pages = [r for r in routes if "{" not in r]
        params = sorted(await form_names(http, pages) | set(KNOWN_PARAMS))
        soup = BeautifulSoup((await http.get(f"{BASE}/issues")).text, "html.parser")
        token = soup.select_one("input[name=csrf_token]")
        assert token is not None
        fingerprints = [str(el["value"]) for el in soup.select("input[name=fingerprint]")]
        assert len(fingerprints) >= 3
        running = Board(app, runtime, http, routes, params, str(token["value"]), fingerprints)
        yield running
    record(
        f"fuzz {request.node.name}",
        examples=running.examples,
        routes=len(running.get_routes),
        params=len(running.params),
        statuses=running.statuses,
    )


def fill(template: str, value: str) -> str:
    """Put a fuzzed value into each ``{param}`` of a route template."""
    path_safe = "/" if "{fingerprint:path}" in template else ""
    encoded = quote(value.encode("utf-8", "surrogatepass"), safe=path_safe) or "x"
    return re.sub(r"\{[^}]+\}", lambda _: encoded, template)


@FUZZ
@given(data=st.data())
async def test_every_get_route_survives_hostile_queries(board: Board, data: st.DataObject) -> None:
    template = data.draw(st.sampled_from(board.get_routes), label="route")
    path_value = data.draw(URL_TEXT, label="path value")
    names = st.sampled_from(board.params) | URL_TEXT
    pairs = data.draw(st.lists(st.tuples(names, URL_TEXT), max_size=6), label="query")
    target = data.draw(st.sampled_from(HX_TARGETS), label="hx-target")
    headers = {} if target is None else {"HX-Request": "true", "HX-Target": target}
    query = "&".join(
        quote(k.encode("utf-8", "surrogatepass"), safe="")
        + "="
        + quote(v.encode("utf-8", "surrogatepass"), safe="")
        for k, v in pairs
    )
    url = fill(template, path_value) + ("?" + query if query else "")
    headers = {
        k: v.encode("utf-8", "backslashreplace").decode("latin-1") for k, v in headers.items()
    }
    response = await board.http.get(url, headers=headers)
    board.saw(response)
    assert response.status_code < 500, (url, response.status_code, response.text[:300])
    # A value that decodes to "/" can leave every dashboard route: the host app's own 404.
    if response.text != '{"detail":"Not Found"}':
        assert_security_headers(response)


ACTIONS = st.sampled_from(["resolve", "ignore", "reopen", "", "delete", "resolve\x00"])
ACTION_HEADERS: list[dict[str, str]] = [
    {},
    {"HX-Request": "true", "HX-Target": "issues"},
    {"HX-Request": "true", "HX-Target": "issue_head"},
]


@FUZZ
@given(data=st.data())
async def test_issue_actions_survive_hostile_forms(board: Board, data: st.DataObject) -> None:
    token, real = board.csrf_token, board.fingerprints
    fingerprints = st.lists(st.sampled_from(real) | URL_TEXT, max_size=4)
    fields: list[tuple[str, str]] = [("csrf_token", token)]
    fields.append(("action", data.draw(ACTIONS, label="action")))
    fields += [("fingerprint", fp) for fp in data.draw(fingerprints, label="fingerprints")]
    special = st.sampled_from(
        ["//evil.com", "https://evil.com", "/\\evil.com", f"resolve:{real[0]}", "5", "-1",
         "2030-01-01T00:00"]
    )  # fmt: skip
    for name in ("ignore_count", "ignore_until", "next", "row"):
        if data.draw(st.booleans(), label=f"has {name}"):
            fields.append((name, data.draw(URL_TEXT | special, label=name)))
    body = "&".join(
        quote(k, safe="") + "=" + quote(v.encode("utf-8", "surrogatepass"), safe="")
        for k, v in fields
    )
    hx = data.draw(st.sampled_from(ACTION_HEADERS), label="htmx")
    response = await board.http.post(
        f"{BASE}/issues/actions",
        content=body,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "origin": "http://testserver",
            **hx,
        },
    )
    board.saw(response)
    assert response.status_code < 500, (fields, response.status_code, response.text[:300])
    assert_security_headers(response)
    if response.is_redirect:
        location = response.headers["location"]
        parts = urlsplit(location)
        assert not parts.netloc and location.startswith(BASE) and "\\" not in location, location


def test_fill_replaces_every_parameter() -> None:
    assert fill("/flare/logs/{entry_id}", "a/b") == "/flare/logs/a%2Fb"
    assert fill("/flare/issues/{fingerprint:path}", "a/b") == "/flare/issues/a/b"
    assert fill("/flare/static/{name}", "") == "/flare/static/x"
