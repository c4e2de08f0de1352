"""Filters in the query string and keyset pagination, for errors and requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from bs4 import BeautifulSoup

from tests.dashboard.conftest import HX, Dash, log, req, texts


def messages(soup: BeautifulSoup) -> list[str]:
    return texts(soup, "#results tr[data-row] a.row-link")


def query(href: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(href).query)


async def test_level_event_and_search_filters(dash: Dash) -> None:
    await dash.add_logs(
        [
            log(1, message="db timeout", event="db_error"),
            log(2, message="card declined", event="payment_failed", level="WARNING"),
            log(
                3,
                message="not found",
                event="http_exception",
                level="WARNING",
                endpoint="/shop/cart",
            ),
            log(4, message="boom", event="unhandled_exception", error="RuntimeError: Timeout"),
        ]
    )
    assert messages(await dash.soup("?level=WARNING")) == ["not found", "card declined"]
    assert messages(await dash.soup("?level=error")) == ["boom", "db timeout"]
    assert messages(await dash.soup("?event=payment_failed")) == ["card declined"]
    # Search covers message, error and endpoint, case-insensitively.
    assert messages(await dash.soup("?q=timeout")) == ["boom", "db timeout"]
    assert messages(await dash.soup("?q=SHOP/CART")) == ["not found"]
    assert messages(await dash.soup("?q=timeout&level=ERROR&event=db_error")) == ["db timeout"]


async def test_form_reflects_the_url_so_reload_and_bookmarks_keep_the_view(dash: Dash) -> None:
    await dash.add_logs([log(1, event="db_error"), log(2, event="payment_failed")])
    soup = await dash.soup("?level=WARNING&event=db_error&q=abc&range=24h&limit=25")
    assert soup.select_one("#f-level option[selected]")["value"] == "WARNING"
    assert soup.select_one("#f-event option[selected]")["value"] == "db_error"
    assert soup.select_one("#f-q")["value"] == "abc"
    assert soup.select_one("#f-range option[selected]")["value"] == "24h"
    assert soup.select_one("#f-limit option[selected]")["value"] == "25"
    assert texts(soup, "#f-event option") == ["All events", "db_error", "payment_failed"]
    form = soup.select_one("form#filters")
    assert form["method"] == "get" and form["action"] == "/flare"
    assert form["hx-get"] == "/flare" and form["hx-push-url"] == "true"
    assert form["hx-target"] == "#results"
    search = soup.select_one("#f-q")
    assert search["hx-trigger"].startswith("input changed delay:300ms")
    assert search["hx-push-url"] == "true"
    # The live region refreshes the same view.
    assert query(soup.select_one("#results")["hx-get"]) == {
        "level": ["WARNING"],
        "event": ["db_error"],
        "q": ["abc"],
        "range": ["24h"],
        "limit": ["25"],
    }


async def test_time_range_and_explicit_bounds(dash: Dash) -> None:
    now = datetime.now(UTC)
    await dash.add_logs(
        [
            log(1, message="a week ago", timestamp=now - timedelta(days=6)),
            log(2, message="yesterday", timestamp=now - timedelta(hours=20)),
            log(3, message="just now", timestamp=now - timedelta(minutes=2)),
        ]
    )
    assert messages(await dash.soup("?range=15m")) == ["just now"]
    assert messages(await dash.soup("?range=24h")) == ["just now", "yesterday"]
    assert messages(await dash.soup("?range=7d")) == ["just now", "yesterday", "a week ago"]
    since = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S")
    until = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    soup = await dash.soup(f"?since={since}&until={until}")
    assert messages(soup) == ["yesterday"]
    chips = texts(soup, ".chips .chip")
    assert len(chips) == 2 and chips[0].startswith("Since ") and chips[1].startswith("Until ")


async def test_route_filter_from_links_shows_as_removable_chip(dash: Dash) -> None:
    await dash.add_logs(
        [
            log(1, route="/items/{item_id}"),
            log(2, route="/orders"),
            log(3, route="/items/{item_id}"),
        ]
    )
    soup = await dash.soup("?route=/items/{item_id}")
    assert messages(soup) == ["message 3", "message 1"]
    chip = soup.select_one(".chips .chip")
    assert "/items/{item_id}" in chip.get_text()
    assert chip["href"] == "/flare"
    assert soup.select_one("#filters input[name=route]")["value"] == "/items/{item_id}"


async def test_keyset_pagination_both_ways_with_real_links(dash: Dash) -> None:
    await dash.add_logs([log(i) for i in range(1, 61)])  # ids 1..60, 60 newest
    first = await dash.soup("?limit=25")
    assert messages(first) == [f"message {i}" for i in range(60, 35, -1)]
    assert first.select_one(".pager span.btn[aria-disabled]").get_text(strip=True) == "← Newer"
    older = first.select_one(".pager a[rel=next]")
    assert older["hx-get"] == older["href"] and older["hx-push-url"] == "true"
    assert query(older["href"]) == {"limit": ["25"], "before": ["36"]}

    second = await dash.soup(older["href"].removeprefix("/flare"))
    assert messages(second) == [f"message {i}" for i in range(35, 10, -1)]
    third = await dash.soup(second.select_one(".pager a[rel=next]")["href"].removeprefix("/flare"))
    assert messages(third) == [f"message {i}" for i in range(10, 0, -1)]
    assert third.select_one(".pager span.btn[aria-disabled]").get_text(strip=True) == "Older →"

    newer = third.select_one(".pager a[rel=prev]")["href"]
    assert query(newer) == {"limit": ["25"], "after": ["10"]}
    back = await dash.soup(newer.removeprefix("/flare"))
    assert messages(back) == [f"message {i}" for i in range(35, 10, -1)]
    newest = back.select_one(".pager-info a")["href"]
    assert newest == "/flare?limit=25"


async def test_pages_stay_stable_while_new_entries_arrive(dash: Dash) -> None:
    await dash.add_logs([log(i) for i in range(1, 31)])
    first = await dash.soup("?limit=25")
    older_href = first.select_one(".pager a[rel=next]")["href"].removeprefix("/flare")
    await dash.add_logs([log(i) for i in range(31, 41)])  # ten newer entries arrive
    second = await dash.soup(older_href)
    assert messages(second) == [f"message {i}" for i in range(5, 0, -1)]
    refreshed = await dash.soup("?limit=25", headers={**HX, "HX-Target": "results"})
    assert messages(refreshed)[0] == "message 40"


async def test_page_size_choices(dash: Dash) -> None:
    await dash.add_logs([log(i) for i in range(1, 121)])
    assert len(messages(await dash.soup())) == 50
    assert texts(await dash.soup(), "#f-limit option") == ["25", "50", "100", "200"]
    assert len(messages(await dash.soup("?limit=100"))) == 100
    assert len(messages(await dash.soup("?limit=200"))) == 120
    assert len(messages(await dash.soup("?limit=7"))) == 50  # not a choice: default


async def test_pagination_keeps_filters(dash: Dash) -> None:
    await dash.add_logs([log(i, level="WARNING" if i % 2 else "ERROR") for i in range(1, 61)])
    first = await dash.soup("?level=WARNING&limit=25")
    href = first.select_one(".pager a[rel=next]")["href"]
    assert query(href) == {"level": ["WARNING"], "limit": ["25"], "before": ["11"]}
    second = await dash.soup(href.removeprefix("/flare"))
    assert messages(second) == [f"message {i}" for i in (9, 7, 5, 3, 1)]


async def test_requests_filters_and_pagination(dash: Dash) -> None:
    await dash.add_requests(
        [
            req(1, method="POST", path="/orders", route="/orders", status=201),
            req(2, method="GET", path="/items/1", status=404),
            req(3, method="DELETE", path="/items/2", status=500),
            req(4, method="GET", path="/health", route="/health", status=200),
        ]
        + [req(10 + i, path=f"/bulk/{i}", route="/bulk/{n}", status=503) for i in range(1, 61)]
    )

    def paths(soup: BeautifulSoup) -> list[str]:
        return texts(soup, "#results tr[data-row] a.row-link")

    assert paths(await dash.soup("/requests?method=post")) == ["/orders"]
    assert paths(await dash.soup("/requests?status=2xx")) == ["/health", "/orders"]
    assert paths(await dash.soup("/requests?status=4")) == ["/items/1"]
    assert paths(await dash.soup("/requests?q=/items")) == ["/items/2", "/items/1"]
    assert paths(await dash.soup("/requests?method=GET&status=4xx&q=items")) == ["/items/1"]

    first = await dash.soup("/requests?status=5xx&limit=25")
    assert paths(first) == [f"/bulk/{i}" for i in range(60, 35, -1)]
    href = first.select_one(".pager a[rel=next]")["href"]
    assert href.startswith("/flare/requests?")
    assert query(href) == {"status": ["5xx"], "limit": ["25"], "before": ["40"]}
    third = await dash.soup(
        (await dash.soup(href.removeprefix("/flare")))
        .select_one(".pager a[rel=next]")["href"]
        .removeprefix("/flare")
    )
    assert paths(third) == [f"/bulk/{i}" for i in range(10, 0, -1)] + ["/items/2"]
    back = await dash.soup(third.select_one(".pager a[rel=prev]")["href"].removeprefix("/flare"))
    assert paths(back) == [f"/bulk/{i}" for i in range(35, 10, -1)]
    form = (await dash.soup("/requests?status=5xx")).select_one("form#filters")
    assert form["hx-get"] == "/flare/requests"
    assert form.select_one("#f-status option[selected]")["value"] == "5xx"


async def test_requests_empty_state_explains_the_2xx_setting(dash: Dash) -> None:
    soup = await dash.soup("/requests")
    text = soup.select_one("#results .state-empty").get_text(" ", strip=True)
    assert "No requests recorded yet" in text
    assert "track_2xx_requests=True" in text
