"""The Issues tab: list, filters in the query string, an issue's page, and the actions."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from bs4 import BeautifulSoup

from fastapi_flare.schema import FlareLogEntry, LogQuery
from tests.grouping.conftest import Backend, entry
from tests.grouping.dashboard_app import HX, Site, build_app, rows, running

NOW = datetime.now(UTC).replace(microsecond=0)


def recent(minutes_ago: int, fingerprint: str = "fp-a", **fields: object) -> FlareLogEntry:
    """An entry ``minutes_ago`` minutes before now (inside the 24 h sparkline)."""
    item = entry(0, fingerprint, **fields)
    item.timestamp = NOW - timedelta(minutes=minutes_ago)
    return item


@pytest.fixture
async def site(backend: Backend) -> AsyncIterator[Site]:
    app, runtime = build_app(backend)
    async with running(app, runtime) as started:
        yield started


async def seed(site: Site) -> None:
    """Three issues: a busy error, a warning, and one seen from two IPs."""
    await site.add(
        [recent(m, "busy", message=f"Order {m} failed", event="order_failed") for m in range(1, 7)]
        + [recent(90, "slow", level="WARNING", event="slow_query", message="Query took 3 s")]
        + [recent(m, "spread", ip_address=f"10.0.0.{m}", message="Cache miss") for m in (5, 125)]
    )


async def test_empty_state_explains_what_will_appear(site: Site) -> None:
    soup = await site.soup("/flare/issues")
    assert soup.select_one("nav.tabs a[aria-current=page]").get_text(strip=True) == "Issues"
    assert soup.select_one("#issues .state-empty h2").get_text(strip=True) == "No issues yet"
    for control in soup.select("#issue-filters select, #issue-filters input"):
        assert soup.select_one(f"label[for={control['id']}]") is not None, control["id"]


async def test_one_row_per_issue_with_counters_sparkline_and_status(site: Site) -> None:
    await seed(site)
    soup = await site.soup("/flare/issues")
    assert rows(soup) == [
        {
            "fingerprint": "busy",
            "title": "Order 1 failed",
            "event": "order_failed",
            "level": "ERROR",
            "count": "6",
            "ips": "1",
            "status": "Open",
        },
        {
            "fingerprint": "spread",
            "title": "Cache miss",
            "event": "custom",
            "level": "ERROR",
            "count": "2",
            "ips": "2",
            "status": "Open",
        },
        {
            "fingerprint": "slow",
            "title": "Query took 3 s",
            "event": "slow_query",
            "level": "WARNING",
            "count": "1",
            "ips": "1",
            "status": "Open",
        },
    ]
    busy = soup.select_one("tr[data-fingerprint=busy]")
    spark = busy.select_one("svg[data-spark]")
    assert spark["data-total"] == "6" and spark["role"] == "img"
    assert sum(int(bar["data-hour-count"]) for bar in spark.select("rect[data-hour-count]")) == 6
    assert busy.select_one("a.row-link")["href"] == "/flare/issues/busy"
    spread_bars = soup.select("tr[data-fingerprint=spread] rect[data-hour-count]")
    assert [bar["data-hour-count"] for bar in spread_bars] == ["1", "1"]  # two different hours
    tabs = {
        a["data-status-tab"]: a.get_text(" ", strip=True) for a in soup.select("[data-status-tab]")
    }
    assert tabs == {
        "open": "Open 3",
        "ignored": "Ignored 0",
        "resolved": "Resolved 0",
        "all": "All 3",
    }


async def test_filters_sort_and_pages_live_in_the_query_string(site: Site) -> None:
    await seed(site)
    await site.add([recent(200 + i, f"extra-{i:02d}", message=f"Extra {i}") for i in range(30)])
    soup = await site.soup("/flare/issues?level=WARNING")
    assert [row["fingerprint"] for row in rows(soup)] == ["slow"]
    soup = await site.soup("/flare/issues?q=cache")
    assert [row["fingerprint"] for row in rows(soup)] == ["spread"]
    soup = await site.soup("/flare/issues?sort=count&limit=25")
    assert [row["fingerprint"] for row in rows(soup)][:2] == ["busy", "spread"]
    first = await site.soup("/flare/issues")
    assert len(rows(first)) == 25
    assert first.select_one(".pager-info").get_text(strip=True) == "1–25 of 33 issues"
    following = first.select_one("#issues a[rel=next]")["href"]
    assert following == "/flare/issues?page=2"
    second = await site.soup(following)
    assert (
        len(rows(second)) == 8
        and second.select_one("#issues a[rel=prev]")["href"] == "/flare/issues"
    )
    fragment = await site.http.get("/flare/issues?page=2&status=all", headers=HX)
    assert (
        fragment.text.lstrip().startswith('<section id="issues"') and "<html" not in fragment.text
    )
    assert fragment.headers["vary"].startswith("HX-Request")


async def test_an_issue_opens_on_its_latest_occurrence_with_every_occurrence_linked(
    site: Site,
) -> None:
    await seed(site)
    soup = await site.soup("/flare/issues/busy")
    assert soup.select_one("#issue-title").get_text(strip=True) == "Order 1 failed"
    assert soup.select_one("[data-field=count]").get_text(strip=True) == "6"
    assert soup.select_one(".standalone [data-field=message]").get_text() == "Order 1 failed"
    links = [a["href"] for a in soup.select("#occurrences a.row-link")]
    entries = (await site.runtime.storage.list_logs(LogQuery(fingerprint="busy"))).items
    assert links == [f"/flare/logs/{item.id}" for item in entries] and len(links) == 6
    detail = await site.http.get(links[0])
    assert detail.status_code == 200 and "Order 6 failed" in detail.text
    assert soup.select_one("#occurrences .panel-head a")["href"] == "/flare?fingerprint=busy"
    assert (await site.http.get("/flare/issues/nope")).status_code == 404


async def test_occurrences_page_with_cursors(site: Site) -> None:
    await site.add([recent(m, "many", message=f"Event {m}") for m in range(1, 46)])
    soup = await site.soup("/flare/issues/many")
    assert len(soup.select("#occurrences tr[data-row]")) == 20
    older = soup.select_one("#occurrences a[rel=next]")["href"]
    page2 = await site.http.get(older, headers={**HX, "HX-Target": "occurrences"})
    fragment = BeautifulSoup(page2.text, "html.parser")
    assert page2.text.lstrip().startswith('<section id="occurrences"')
    assert len(fragment.select("tr[data-row]")) == 20
    assert fragment.select_one("a[rel=prev]") is not None


async def test_odd_fingerprints_work_and_stay_text(site: Site) -> None:
    odd = 'a/b c?<script>alert("x")</script>'
    await site.add([recent(1, odd, message="<img src=x onerror=alert(1)>")])
    soup = await site.soup("/flare/issues")
    link = soup.select_one("a.row-link")
    assert link["href"] == "/flare/issues/" + quote(odd, safe="")
    assert link.get_text() == "<img src=x onerror=alert(1)>"
    assert not soup.select("#issues script, #issues img")
    page = await site.soup(link["href"])
    assert page.select_one("[data-field=fingerprint]").get_text() == odd
    assert (
        page.select_one("#occurrences .panel-head a") is None
    )  # the Errors view takes plain ones only


async def test_actions_without_javascript_redirect_back(site: Site) -> None:
    await seed(site)
    token = await site.token()
    response = await site.post(
        {
            "csrf_token": token,
            "action": "resolve",
            "fingerprint": ["busy", "slow"],
            "next": "/flare/issues?status=all",
        }
    )
    assert (
        response.status_code == 303 and response.headers["location"] == "/flare/issues?status=all"
    )
    soup = await site.soup("/flare/issues?status=all")
    assert {row["fingerprint"]: row["status"] for row in rows(soup)} == {
        "busy": "Resolved",
        "slow": "Resolved",
        "spread": "Open",
    }
    for evil in ("https://evil.example/", "//evil.example/x", "/elsewhere", "/flare/../x\\y"):
        response = await site.post({"csrf_token": token, "row": "reopen:busy", "next": evil})
        assert response.headers["location"] == "/flare/issues", evil


async def test_htmx_actions_swap_the_list_or_the_issue_head(site: Site) -> None:
    await seed(site)
    token = await site.token()
    hx = {**HX, "HX-Target": "issues"}
    response = await site.post(
        {"csrf_token": token, "row": "resolve:busy", "next": "/flare/issues?status=all"}, headers=hx
    )
    fragment = BeautifulSoup(response.text, "html.parser")
    assert response.status_code == 200 and response.text.lstrip().startswith('<section id="issues"')
    assert fragment.select_one("[data-notice]").get_text(strip=True) == "1 issue resolved."
    assert {row["fingerprint"]: row["status"] for row in rows(fragment)}["busy"] == "Resolved"

    response = await site.post(
        {"csrf_token": token, "action": "resolve", "next": "/flare/issues"}, headers=hx
    )
    notice = BeautifulSoup(response.text, "html.parser").select_one("[data-notice]")
    assert notice.get_text(strip=True) == "Select at least one issue."

    until = (NOW + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    head = {**HX, "HX-Target": "issue_head"}
    response = await site.post(
        {
            "csrf_token": token,
            "action": "ignore",
            "fingerprint": "slow",
            "ignore_count": "5",
            "ignore_until": until,
            "next": "/flare/issues/slow",
        },
        headers=head,
    )
    fragment = BeautifulSoup(response.text, "html.parser")
    assert response.text.lstrip().startswith('<section id="issue_head"')
    assert (
        fragment.select_one("[data-field=status] [data-status]").get_text(strip=True) == "Ignored"
    )
    assert "for 5 more" in fragment.select_one("[data-field=status]").get_text(" ", strip=True)
    issue = await site.issues.get_issue("slow", NOW)
    assert issue is not None and issue.ignore_remaining == 5
    assert issue.ignored_until == datetime.strptime(until, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"action": "explode", "fingerprint": "busy"}, 400),
        ({"action": "ignore", "fingerprint": "busy", "ignore_count": "-3"}, 400),
        ({"action": "ignore", "fingerprint": "busy", "ignore_count": "many"}, 400),
        ({"action": "ignore", "fingerprint": "busy", "ignore_until": "someday"}, 400),
        ({"row": "resolve:"}, 303),
    ],
)
async def test_bad_action_forms_are_rejected_cleanly(
    site: Site, fields: dict[str, str], status: int
) -> None:
    await seed(site)
    response = await site.post({"csrf_token": await site.token(), **fields})
    assert response.status_code == status
    issue = await site.issues.get_issue("busy", NOW)
    assert issue is not None and issue.status == "open"


async def test_form_size_and_type_are_bounded(site: Site) -> None:
    await seed(site)
    token = await site.token()
    big = await site.post({"csrf_token": token, "action": "resolve", "fingerprint": "x" * 70_000})
    assert big.status_code == 413
    json_body = await site.http.post("/flare/issues/actions", json={"action": "resolve"})
    assert json_body.status_code == 415


async def test_hostile_query_strings_never_fail(site: Site) -> None:
    await seed(site)
    hostile = [
        "'",
        "%25",
        "_",
        "%00",
        "x" * 5000,
        "-1",
        "99999999999999999999",
        "NaN",
        "%3Cscript%3E",
        "%ED%A0%80",
    ]
    for name, value in itertools.product(
        ["status", "level", "q", "sort", "page", "limit"], hostile
    ):
        for headers in ({}, HX):
            response = await site.http.get(f"/flare/issues?{name}={value}", headers=headers)
            assert response.status_code == 200, (name, value[:20])
    for value in hostile:
        response = await site.http.get(f"/flare/issues/busy?before={value}&after={value}")
        assert response.status_code == 200, value[:20]
        assert (await site.http.get(f"/flare/issues/{value}")).status_code in (200, 404)


async def test_pages_have_no_inline_script_or_style(site: Site) -> None:
    await seed(site)
    for url in ("/flare/issues", "/flare/issues/busy", "/flare/issues?status=all"):
        for headers in ({}, HX):
            response = await site.http.get(url, headers=headers)
            assert "unsafe-inline" not in response.headers["content-security-policy"]
            soup = BeautifulSoup(response.text, "html.parser")
            for script in soup.select("script"):
                assert script.get("src") and not script.get_text().strip(), url
            assert not soup.select("style")
            for element in soup.find_all(True):
                assert not any(
                    a.lower().startswith(("on", "hx-on")) or a.lower() == "style"
                    for a in element.attrs
                ), url
