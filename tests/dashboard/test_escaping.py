"""Captured data is attacker-controlled: every field is escaped wherever it is shown."""

from __future__ import annotations

from urllib.parse import quote

from bs4 import BeautifulSoup

from tests.dashboard.conftest import HX, Dash, log, req

SCRIPT = "<script>window.__xss=1</script>"
IMG = '"><img src=x onerror="window.__xss=1">'
SVG = "'><svg onload=alert(1)>"
PAYLOAD = SCRIPT + IMG + SVG


def assert_inert(html: str, where: str) -> BeautifulSoup:
    """Only our own script tags and logo image exist; no event handler attribute anywhere."""
    soup = BeautifulSoup(html, "html.parser")
    for script in soup.find_all("script"):
        assert script.get("src", "").startswith("/flare/static/"), (where, script)
    assert soup.find_all("svg") == [], where
    for img in soup.find_all("img"):
        assert img.get("class") == ["brand-logo"], (where, img)
    for element in soup.find_all(True):
        for attribute in element.attrs:
            assert not attribute.startswith("on"), (where, element.name, attribute)
    assert "<script>window" not in html and "<img src=x" not in html, where
    return soup


async def test_planted_markup_in_every_field_is_shown_as_text(dash: Dash) -> None:
    await dash.add_logs(
        [
            log(
                1,
                event="evt" + PAYLOAD,
                message="msg" + PAYLOAD,
                error="err" + PAYLOAD,
                stack_trace=f'Traceback (most recent call last):\n  File "{PAYLOAD}", line 1, in x\nValueError: {PAYLOAD}',
                request_id="rid" + PAYLOAD,
                endpoint="/path" + PAYLOAD,
                route="/route" + PAYLOAD,
                http_method="GET",
                ip_address="ip" + PAYLOAD,
                user_agent="ua" + PAYLOAD,
                context={"key" + PAYLOAD: "value" + PAYLOAD, "nested": {PAYLOAD: [PAYLOAD]}},
                request_body={"body" + PAYLOAD: PAYLOAD},
                fingerprint="fp" + PAYLOAD,
            )
        ]
    )
    await dash.add_requests(
        [
            req(
                1,
                method="GET",
                path="/req" + PAYLOAD,
                route="/rroute" + PAYLOAD,
                request_id="rrid" + PAYLOAD,
                ip_address="rip" + PAYLOAD,
                user_agent="rua" + PAYLOAD,
                headers={"x-h" + PAYLOAD: "hv" + PAYLOAD},
            )
        ]
    )

    listing = assert_inert((await dash.get()).text, "errors page")
    assert listing.select_one("a.row-link").get_text().startswith("msg<script>")
    assert "evt" + PAYLOAD in [option.get_text() for option in listing.select("#f-event option")]
    log_href = listing.select_one("a.row-link")["href"]

    for headers in ({}, HX):
        detail = assert_inert((await dash.http.get(log_href, headers=headers)).text, "log detail")
        text = detail.get_text()
        for field in ("msg", "err", "rid", "/path", "/route", "ip", "ua", "key", "value", "body"):
            assert field + PAYLOAD in text or field + PAYLOAD.replace('"', '\\"') in text, field
        assert f'File "{PAYLOAD}"' in detail.select_one("[data-field=stack_trace]").get_text()

    requests = assert_inert((await dash.get("/requests")).text, "requests page")
    request_href = requests.select_one("a.row-link")["href"]
    assert requests.select_one("a.row-link").get_text() == "/req" + PAYLOAD
    for headers in ({}, HX):
        detail = assert_inert(
            (await dash.http.get(request_href, headers=headers)).text, "request detail"
        )
        cells = [td.get_text() for td in detail.select("[data-field=headers] td")]
        assert cells == ["x-h" + PAYLOAD, "hv" + PAYLOAD]
        assert detail.select_one("[data-field=request_id]").get_text() == "rrid" + PAYLOAD


async def test_reflected_filter_values_are_escaped(dash: Dash) -> None:
    value = quote(PAYLOAD, safe="")
    for path in (
        f"?q={value}&event={value}&route={value}&level={value}",
        f"/requests?q={value}&method={value}",
    ):
        for headers in ({}, HX):
            soup = assert_inert((await dash.get(path, headers=headers)).text, path)
            search = soup.select_one("#f-q")
            if search is not None:
                assert search["value"] == PAYLOAD
    chip = BeautifulSoup((await dash.get(f"?route={value}")).text, "html.parser").select_one(
        ".chip code"
    )
    assert chip.get_text() == PAYLOAD
