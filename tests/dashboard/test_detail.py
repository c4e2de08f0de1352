"""The detail views: a fragment for the modal, a standalone page for deep links."""

from __future__ import annotations

import json

from bs4 import BeautifulSoup

from tests.dashboard.conftest import HX, Dash, log, req, texts

TRACE = """Traceback (most recent call last):
  File "/usr/lib/python3/site-packages/starlette/routing.py", line 70, in app
    response = await func(request)
  File "/srv/shop/app.py", line 12, in boom
    raise RuntimeError("kaboom")
RuntimeError: kaboom"""


async def seeded(dash: Dash) -> str:
    await dash.add_logs(
        [
            log(
                1,
                message="kaboom\nsecond line",
                event="unhandled_exception",
                error="RuntimeError: kaboom",
                stack_trace=TRACE,
                request_id="3f0c7a52-req",
                endpoint="/boom",
                route="/boom",
                http_method="POST",
                http_status=500,
                ip_address="203.0.113.9",
                duration_ms=1250,
                user_agent="curl/8.5",
                context={"order": {"id": 7, "items": [1, 2]}, "retry": True},
                request_body={"card": "[redacted]", "amount": 25},
            )
        ]
    )
    soup = await dash.soup()
    return str(soup.select_one("tr[data-row] a.row-link")["href"])


def fields(soup: BeautifulSoup) -> dict[str, str]:
    return {div.dt.get_text(): div.dd.get_text(" ", strip=True) for div in soup.select("dl.kv div")}


async def test_row_link_opens_a_modal_fragment(dash: Dash) -> None:
    href = await seeded(dash)
    assert href.startswith("/flare/logs/")
    row_link = (await dash.soup()).select_one("tr[data-row] a.row-link")
    assert row_link["hx-get"] == href and row_link["hx-target"] == "#modal"
    response = await dash.http.get(href, headers=HX)
    assert response.status_code == 200
    soup = BeautifulSoup(response.text, "html.parser")
    roots = [child for child in soup.children if getattr(child, "name", None)]
    assert [root.name for root in roots] == ["dialog"]
    dialog = roots[0]
    assert dialog.has_attr("data-modal")
    assert dialog.select_one("form[method=dialog] button[aria-label=Close]") is not None
    assert dialog.select_one("[data-field=message]").get_text() == "kaboom\nsecond line"
    assert dialog.select_one("[data-field=error]").get_text() == "RuntimeError: kaboom"


async def test_detail_shows_trace_request_metadata_context_and_body(dash: Dash) -> None:
    href = await seeded(dash)
    soup = BeautifulSoup((await dash.http.get(href, headers=HX)).text, "html.parser")
    trace = soup.select_one("[data-field=stack_trace]")
    assert trace.get_text() == TRACE + "\n"
    assert texts(soup, ".t-frame") == ['File "/srv/shop/app.py", line 12, in boom']
    assert len(soup.select(".t-frame-lib")) == 1
    assert texts(soup, ".t-exc") == ["RuntimeError: kaboom"]
    assert fields(soup) == {
        "Request ID": "3f0c7a52-req",
        "Method": "POST",
        "Path": "/boom",
        "Route": "/boom",
        "Status": "500",
        "IP address": "203.0.113.9",
        "Duration": "1.25 s",
        "User agent": "curl/8.5",
    }
    context = soup.select_one("[data-field=context]").get_text()
    assert json.loads(context) == {"order": {"id": 7, "items": [1, 2]}, "retry": True}
    assert '\n  "order": {\n    "id": 7,' in context  # pretty-printed
    body = soup.select_one("[data-field=request_body]").get_text()
    assert json.loads(body) == {"amount": 25, "card": "[redacted]"}
    assert soup.select_one("a[data-permalink]")["href"] == href
    assert soup.select_one(".detail-foot a[href='/flare?route=/boom']") is not None


async def test_direct_visit_renders_a_standalone_page(dash: Dash) -> None:
    href = await seeded(dash)
    response = await dash.http.get(href)
    assert response.status_code == 200
    soup = BeautifulSoup(response.text, "html.parser")
    assert soup.find("html") is not None
    assert soup.select("dialog") == []
    assert soup.select_one("nav.tabs a[aria-current=page]").get_text(strip=True) == "Errors"
    assert soup.select_one(".crumbs a")["href"] == "/flare"
    assert soup.select_one(".standalone [data-field=message]").get_text() == "kaboom\nsecond line"
    assert soup.select_one(".standalone [data-field=stack_trace]") is not None
    assert soup.select(".standalone button[aria-label=Close]") == []


async def test_unknown_or_malformed_ids_are_404_in_both_forms(dash: Dash) -> None:
    await seeded(dash)
    for path in (
        "/logs/999999",
        "/logs/abc",
        "/logs/-1",
        "/logs/1%00",
        "/requests/424242",
        "/requests/x",
    ):
        page = await dash.get(path)
        assert page.status_code == 404, path
        assert "does not exist" in BeautifulSoup(page.text, "html.parser").h1.get_text()
        fragment = await dash.get(path, headers=HX)
        assert fragment.status_code == 404, path
        assert fragment.text.lstrip().startswith("<dialog")


async def test_request_detail_masks_secret_headers(dash: Dash) -> None:
    await dash.add_requests(
        [
            req(
                1,
                method="POST",
                path="/login?next=/home",
                route="/login",
                status=401,
                duration_ms=12,
                request_id="rid-1",
                ip_address="198.51.100.4",
                user_agent="Mozilla/5.0",
                headers={
                    "authorization": "Bearer abc.def",
                    "Cookie": "session=s3cr3t",
                    "x-api-key": "k-123",
                    "accept": "application/json",
                },
            )
        ]
    )
    listing = await dash.soup("/requests")
    href = listing.select_one("tr[data-row] a.row-link")["href"]
    assert href.startswith("/flare/requests/")
    soup = BeautifulSoup((await dash.http.get(href, headers=HX)).text, "html.parser")
    headers = dict(
        (row.select("td")[0].get_text(), row.select("td")[1].get_text())
        for row in soup.select("[data-field=headers] tbody tr")
    )
    assert headers == {
        "Cookie": "[redacted]",
        "accept": "application/json",
        "authorization": "[redacted]",
        "x-api-key": "[redacted]",
    }
    assert "s3cr3t" not in soup.get_text() and "abc.def" not in soup.get_text()
    assert fields(soup)["Request ID"] == "rid-1"
    assert fields(soup)["Path"] == "/login?next=/home"
    page = await dash.http.get(href)
    assert page.status_code == 200
    assert (
        BeautifulSoup(page.text, "html.parser")
        .select_one("nav.tabs a[aria-current=page]")
        .get_text(strip=True)
        == "HTTP Requests"
    )


async def test_request_without_headers_explains_the_setting(dash: Dash) -> None:
    await dash.add_requests([req(1)])
    href = (await dash.soup("/requests")).select_one("tr[data-row] a.row-link")["href"]
    soup = BeautifulSoup((await dash.http.get(href)).text, "html.parser")
    assert "capture_request_headers=True" in soup.select_one(".standalone").get_text()
