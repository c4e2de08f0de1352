"""Full pages versus htmx fragments, the shell around them, and the static files."""

from __future__ import annotations

import gzip
from pathlib import Path

from bs4 import BeautifulSoup

from tests.dashboard.conftest import HX, Dash, build_app, log, started, texts


async def test_full_page_has_shell_cards_filters_table_and_storage(dash: Dash) -> None:
    await dash.add_logs([log(1), log(2, level="WARNING")])
    response = await dash.get()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "HX-Request" in response.headers["vary"]
    soup = BeautifulSoup(response.text, "html.parser")
    assert soup.title is not None and soup.title.get_text() == "Errors · fastapi-flare"
    assert texts(soup, ".brand-title") == ["fastapi-flare"]
    tabs = {a.get_text(strip=True): a["href"] for a in soup.select("nav.tabs a")}
    assert tabs["Errors"] == "/flare" and tabs["HTTP Requests"] == "/flare/requests"
    assert next(iter(tabs)) == "Errors"
    assert soup.select_one("nav.tabs a[aria-current=page]").get_text(strip=True) == "Errors"
    for element_id in ("cards", "filters", "results", "storage", "modal", "auto-refresh"):
        assert soup.find(id=element_id) is not None, element_id
    assert len(soup.select("#results tr[data-row]")) == 2


async def test_every_form_control_has_a_visible_label(dash: Dash) -> None:
    await dash.add_logs([log(1)])
    for path in ("", "/requests"):
        soup = await dash.soup(path)
        controls = soup.select("select, input:not([type=hidden]), textarea")
        assert controls
        for control in controls:
            label = soup.find("label", attrs={"for": control["id"]})
            assert label is not None and label.get_text(strip=True), control
    errors = await dash.soup()
    labels = {label.get_text(" ", strip=True) for label in errors.select("label")}
    assert {"Level", "Event", "Search", "Time range", "Per page", "Auto-refresh"} <= labels


async def test_htmx_request_gets_only_the_targeted_block(dash: Dash) -> None:
    await dash.add_logs([log(1), log(2)])
    for target, root_id in ((None, "results"), ("results", "results"), ("cards", "cards")):
        headers = dict(HX, **({"HX-Target": target} if target else {}))
        response = await dash.get(headers=headers)
        assert response.status_code == 200
        assert "<html" not in response.text and '<nav class="tabs"' not in response.text
        soup = BeautifulSoup(response.text, "html.parser")
        roots = [child for child in soup.children if getattr(child, "name", None)]
        assert [root.get("id") for root in roots] == [root_id]
    storage = BeautifulSoup(
        (await dash.get(headers={**HX, "HX-Target": "storage"})).text, "html.parser"
    )
    assert storage.select_one("section#storage [data-storage-status]").get_text() == "Connected"


async def test_unknown_target_falls_back_to_results_and_history_restore_gets_full_page(
    dash: Dash,
) -> None:
    await dash.add_logs([log(1)])
    odd = await dash.get(headers={**HX, "HX-Target": "not-a-block"})
    assert BeautifulSoup(odd.text, "html.parser").find().get("id") == "results"
    restore = await dash.get(headers={**HX, "HX-History-Restore-Request": "true"})
    assert restore.text.lstrip().lower().startswith("<!doctype html>")
    assert "HX-Request" in restore.headers["vary"]


async def test_empty_state_explains_what_will_appear(dash: Dash) -> None:
    soup = await dash.soup()
    state = soup.select_one("#results .state-empty")
    assert state is not None
    text = state.get_text(" ", strip=True)
    assert "No errors captured yet" in text
    assert "push_log" in text
    assert soup.select("#results table") == []
    cards = {card["data-card"]: card for card in soup.select("#cards [data-card]")}
    assert cards["errors_24h"].select_one(".card-value").get_text(strip=True) == "0"
    assert cards["latest_error"].select_one(".card-value").get_text(strip=True) == "never"
    assert "dropped" not in cards


async def test_filtered_empty_result_offers_a_reset(dash: Dash) -> None:
    await dash.add_logs([log(1)])
    soup = await dash.soup("?q=nothing-like-this")
    assert "No entries match" in soup.select_one("#results").get_text(" ", strip=True)
    assert soup.select_one("#results a.btn")["href"] == "/flare"


async def test_dashboard_title_and_custom_path(tmp_path: Path) -> None:
    app, runtime = build_app(
        tmp_path, dashboard_title="Shop <Prod> errors", dashboard_path="/ops/errors"
    )
    async for dash in started(app, runtime, "/ops/errors"):
        soup = await dash.soup()
        assert soup.select_one(".brand-title").get_text() == "Shop <Prod> errors"
        assert "Shop &lt;Prod&gt; errors" in (await dash.get()).text
        hrefs = [a["href"] for a in soup.select("nav.tabs a")]
        assert hrefs[0] == "/ops/errors" and "/ops/errors/requests" in hrefs
        assert all(href.startswith("/ops/errors") for href in hrefs)
        assert soup.select_one("#filters")["action"] == "/ops/errors"
        for tag in soup.select("link[href], script[src]"):
            url = str(tag.get("href") or tag.get("src"))
            assert url.startswith("/ops/errors/static/"), url
            assert (await dash.http.get(url)).status_code == 200


async def test_stats_cards_count_errors_and_warnings_of_the_last_24_hours(dash: Dash) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    recent = [log(i, timestamp=now - timedelta(minutes=i)) for i in range(1, 4)]
    warnings = [log(10 + i, level="WARNING", timestamp=now - timedelta(hours=i)) for i in (1, 2)]
    old = [log(20, timestamp=now - timedelta(days=3))]
    await dash.add_logs(old + warnings + recent)
    soup = await dash.soup(headers={**HX, "HX-Target": "cards"})
    cards = {card["data-card"]: card for card in soup.select("[data-card]")}
    assert cards["errors_24h"].select_one(".card-value").get_text(strip=True) == "3"
    assert cards["warnings_24h"].select_one(".card-value").get_text(strip=True) == "2"
    assert cards["total"].select_one(".card-value").get_text(strip=True) == "6"
    latest = cards["latest_error"].select_one("time")
    assert latest.get_text() == "1 min ago"
    assert latest["datetime"] == (now - timedelta(minutes=1)).isoformat()


async def test_dropped_card_appears_when_the_queue_dropped_entries(dash: Dash) -> None:
    dash.runtime.queue.dropped = 7
    soup = await dash.soup()
    card = soup.select_one("[data-card=dropped]")
    assert card is not None
    assert card.select_one(".card-value").get_text(strip=True) == "7"
    dropped = [div for div in soup.select("#storage .facts div") if div.dt.get_text() == "Dropped"]
    assert dropped[0].dd.get_text(strip=True) == "7"


async def test_storage_panel_shows_backend_counts_file_and_queue(dash: Dash) -> None:
    await dash.add_logs([log(1), log(2), log(3)])
    soup = await dash.soup()
    facts = {
        div.dt.get_text(): div.dd.get_text(" ", strip=True)
        for div in soup.select("#storage .facts div")
    }
    assert facts["Backend"] == "sqlite"
    assert facts["Location"].endswith("flare.db")
    assert facts["Log entries"] == "3"
    assert facts["Tracked requests"] == "0"
    assert facts["Queue depth"] == "0 / 10,000"
    assert facts["Oldest entry"] != "—" and facts["Newest entry"] != "—"
    assert soup.select_one("#storage [data-storage-status]").get_text() == "Connected"


async def test_static_assets_are_versioned_cached_and_compressed(dash: Dash) -> None:
    soup = await dash.soup()
    urls = [
        str(tag.get("href") or tag.get("src")) for tag in soup.select("link[href], script[src]")
    ]
    names = sorted(url.split("/static/")[1].split("?")[0] for url in urls)
    assert names == ["flare.css", "flare.js", "flare.svg", "htmx.min.js", "metrics.css"]
    for url in urls:
        assert "?v=" in url
        plain = await dash.http.get(url, headers={"Accept-Encoding": "identity"})
        assert plain.status_code == 200
        assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
        zipped = await dash.http.get(url, headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.content == plain.content  # httpx decodes gzip transparently
        etag = plain.headers["etag"]
        assert (await dash.http.get(url, headers={"If-None-Match": etag})).status_code == 304
    htmx = await dash.get("/static/htmx.min.js")
    assert htmx.headers["content-type"].startswith("text/javascript")
    assert htmx.text.startswith("/*! htmx 2.")
    assert "Zero-Clause BSD" in htmx.text.splitlines()[0]
    assert htmx.headers["cache-control"] == "public, max-age=60"  # unversioned URL: short cache
    for bad in ("/static/nope.js", "/static/..%2Fconfig.py", "/static/htmx.LICENSE"):
        assert (await dash.get(bad)).status_code == 404, bad


async def test_vendored_htmx_is_pinned_and_licensed() -> None:
    static = Path(__file__).parents[2] / "fastapi_flare" / "static" / "flare"
    first_line = (static / "htmx.min.js").read_text().splitlines()[0]
    assert first_line.startswith("/*! htmx 2.0.")
    assert "Zero-Clause BSD" in (static / "htmx.LICENSE").read_text()
    raw = gzip.compress((static / "htmx.min.js").read_bytes())
    assert len(raw) < 20_000  # what a first visit downloads, compressed


async def test_requests_tab_explains_when_tracking_is_off(tmp_path: Path) -> None:
    app, runtime = build_app(tmp_path, track_requests=False)
    async for dash in started(app, runtime, "/flare"):
        soup = await dash.soup("/requests")
        assert soup.select_one(".page-head p").get_text(strip=True) == "Request tracking is off."
        state = soup.select_one("#results .state-empty").get_text(" ", strip=True)
        assert "Request tracking is off" in state
        assert "FLARE_TRACK_REQUESTS=true" in state
