"""Storage contract, part 1: what goes in comes out; filters and search find exactly it.

Every test runs on SQLite and on PostgreSQL (see conftest.backend). Search
tests check both code paths: rows not yet reached by the search indexer (a
LIKE/ILIKE scan) and rows in the trigram index.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from fastapi_flare.schema import LogQuery, RequestQuery
from tests.storage.entries import all_messages, log, request

Check = Callable[[], Awaitable[None]]


async def before_and_after_indexing(storage: Any, check: Check) -> None:
    """Run ``check`` on the unindexed tail, then again once everything is indexed."""
    await check()
    indexed = await storage.build_search_index()
    assert indexed > 0
    await check()


def full_entry() -> Any:
    nested: dict[str, Any] = {"level": 0}
    cursor = nested
    for depth in range(1, 30):
        cursor["child"] = {"level": depth, "items": [1, 2.5, None, True, "x"]}
        cursor = cursor["child"]
    return log(
        "Ünïcødé 💥 — 错误 — خطأ — \u200b zero-width",
        level="WARNING",
        event="payment_failed",
        at=datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
        request_id="3f2b9c1e-req",
        endpoint="/items/42?q=ü",
        route="/items/{item_id}",
        http_method="POST",
        http_status=422,
        ip_address="2001:db8::1",
        duration_ms=1234,
        error="KeyError: 'naïve'",
        stack_trace="Traceback (most recent call last):\n" + "  frame\n" * 150_000,
        context={"order": {"id": "ord_123", "amount": 2500}, "tags": ["a", "ü"], "deep": nested},
        request_body={"user": "ada", "items": [{"sku": "x", "qty": 2}]},
        user_agent="Mozilla/5.0 (X11; Linux) ☃",
        fingerprint="fp-" + "a" * 60,
    )


async def test_every_field_round_trips(storage: Any) -> None:
    entry = full_entry()
    await storage.save_logs([entry])
    page = await storage.list_logs(LogQuery())
    assert len(page.items) == 1
    stored = page.items[0]
    assert stored.id is not None
    assert stored.model_dump(exclude={"id"}) == entry.model_dump(exclude={"id"})
    assert len(stored.stack_trace or "") == len(entry.stack_trace or "")
    assert stored.timestamp.tzinfo is not None and stored.timestamp.utcoffset() == timedelta(0)
    detail = await storage.get_log(stored.id)
    assert detail == stored


async def test_minimal_entry_round_trips_with_nones(storage: Any) -> None:
    await storage.save_logs([log("only required fields", level="WARNING", event="x")])
    [stored] = (await storage.list_logs(LogQuery())).items
    assert stored.message == "only required fields"
    assert stored.context is None and stored.request_body is None
    assert stored.http_status is None and stored.endpoint is None and stored.stack_trace is None


async def test_timestamps_come_back_as_aware_utc(storage: Any) -> None:
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2025, 6, 1, 14, 0, 0, 1, tzinfo=plus_two)
    naive = datetime(2025, 6, 1, 9, 30, 0)  # naive means UTC
    await storage.save_logs([log("local", at=local), log("naive", at=naive)])
    got = {e.message: e.timestamp for e in (await storage.list_logs(LogQuery())).items}
    assert got["local"] == datetime(2025, 6, 1, 12, 0, 0, 1, tzinfo=UTC)
    assert got["naive"] == datetime(2025, 6, 1, 9, 30, 0, tzinfo=UTC)
    assert all(ts.utcoffset() == timedelta(0) for ts in got.values())


async def test_nul_bytes_and_lone_surrogates_are_stored_not_fatal(storage: Any) -> None:
    await storage.save_logs(
        [
            log(
                "nul\x00inside",
                error="bad \udcff byte",
                context={"k\x00ey": "v\x00al", "list": ["\x00"]},
                request_body={"raw": "\ud800"},
            )
        ]
    )
    [stored] = (await storage.list_logs(LogQuery())).items
    assert stored.message == "nul\ufffdinside"
    assert stored.error == "bad ? byte"
    assert stored.context == {"k\ufffdey": "v\ufffdal", "list": ["\ufffd"]}
    assert stored.request_body == {"raw": "?"}


async def test_request_round_trip_with_headers(storage: Any) -> None:
    entry = request(
        "/orders/7",
        method="DELETE",
        status=503,
        route="/orders/{order_id}",
        request_id="rid-1",
        ip_address="10.0.0.1",
        user_agent="curl/8",
        duration_ms=87,
        headers={"authorization": "[redacted]", "x-custom": "✓"},
    )
    await storage.save_requests([entry])
    [stored] = (await storage.list_requests(RequestQuery())).items
    assert stored.model_dump(exclude={"id"}) == entry.model_dump(exclude={"id"})
    assert await storage.get_request(stored.id) == stored


async def test_level_and_event_filters_are_exact(storage: Any) -> None:
    batch = [log(f"e{i}", level="ERROR", event="unhandled_exception") for i in range(7)]
    batch += [log(f"w{i}", level="WARNING", event="http_exception") for i in range(5)]
    batch += [log(f"p{i}", level="ERROR", event="payment_failed") for i in range(3)]
    await storage.save_logs(batch)
    assert len(await all_messages(storage, level="ERROR")) == 10
    assert len(await all_messages(storage, level="WARNING")) == 5
    assert len(await all_messages(storage, event="payment_failed")) == 3
    assert await all_messages(storage, level="WARNING", event="payment_failed") == []
    assert await all_messages(storage, event="nope") == []
    assert await storage.list_events() == [
        "http_exception",
        "payment_failed",
        "unhandled_exception",
    ]


async def test_route_and_fingerprint_filters(storage: Any) -> None:
    await storage.save_logs(
        [
            log("a", route="/items/{item_id}", fingerprint="f1"),
            log("b", route="/items/{item_id}", fingerprint="f2"),
            log("c", route="/users/{user_id}", fingerprint="f1"),
            log("d"),
        ]
    )
    assert await all_messages(storage, route="/items/{item_id}") == ["b", "a"]
    assert await all_messages(storage, fingerprint="f1") == ["c", "a"]
    assert await all_messages(storage, fingerprint="f1", route="/users/{user_id}") == ["c"]


async def test_time_range_bounds_are_inclusive(storage: Any) -> None:
    base = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
    await storage.save_logs([log(f"m{m}", at=base + timedelta(minutes=m)) for m in range(10)])
    since, until = base + timedelta(minutes=3), base + timedelta(minutes=6)
    assert await all_messages(storage, since=since, until=until) == ["m6", "m5", "m4", "m3"]
    assert await all_messages(storage, since=base + timedelta(minutes=8)) == ["m9", "m8"]
    assert await all_messages(storage, until=base) == ["m0"]
    assert await all_messages(storage, level="WARNING", since=since) == []


SEARCHABLE = [
    log("discount 100% applied"),
    log("snake_case_name failed"),
    log("percent sign alone"),
    log("it's a quote"),
    log('say "hello" twice'),
    log("back\\slash path"),
    log("NEAR(a b) AND OR * ^ - : syntax"),
    log("plain message", error="KeyError: 'user_id'"),
    log("routing trouble", endpoint="/items/42/detail"),
    log("ñandú sighting"),
]


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("%", ["discount 100% applied"]),
        ("0% a", ["discount 100% applied"]),
        ("_", ["plain message", "snake_case_name failed"]),  # error "...user_id"
        ("e_c", ["snake_case_name failed"]),  # unescaped, _ would also match "erc"
        ("'", ["plain message", "it's a quote"]),  # error "KeyError: 'user_id'"
        ('"hello"', ['say "hello" twice']),
        ("\\", ["back\\slash path"]),
        ("' OR 1=1 --", []),
        ("NEAR(", ["NEAR(a b) AND OR * ^ - : syntax"]),
        ("* ^", ["NEAR(a b) AND OR * ^ - : syntax"]),
        ("PLAIN", ["plain message"]),
        ("keyerror: 'user", ["plain message"]),
        ("/items/42", ["routing trouble"]),
        ("andú", ["ñandú sighting"]),
        ("a\x00pplied", ["discount 100% applied"]),
        ("x" * 10_000, []),
        ("zz", []),
    ],
)
async def test_search_finds_exact_substrings(storage: Any, term: str, expected: list[str]) -> None:
    await storage.save_logs(SEARCHABLE)

    async def check() -> None:
        assert await all_messages(storage, search=term) == expected

    await before_and_after_indexing(storage, check)


async def test_search_of_only_nul_or_empty_is_no_filter(storage: Any) -> None:
    await storage.save_logs(SEARCHABLE)
    assert len(await all_messages(storage, search="\x00")) == len(SEARCHABLE)
    assert len(await all_messages(storage, search="")) == len(SEARCHABLE)


async def test_search_finds_a_10kb_message_by_its_text(storage: Any) -> None:
    huge = "".join(f"word{i} " for i in range(2000))[:10_240]
    await storage.save_logs([log(huge), log("other")])

    async def check() -> None:
        assert await all_messages(storage, search=huge) == [huge]
        assert await all_messages(storage, search="word1250 ") == [huge]

    await before_and_after_indexing(storage, check)


async def test_search_combines_with_filters_and_spans_old_and_new_rows(storage: Any) -> None:
    await storage.save_logs([log(f"db timeout {i}", level="ERROR") for i in range(6)])
    await storage.save_logs([log(f"db timeout w{i}", level="WARNING") for i in range(4)])
    await storage.build_search_index()
    # Arrives after indexing: found through the unindexed tail.
    await storage.save_logs([log("db timeout late", level="ERROR"), log("unrelated")])
    found = await all_messages(storage, search="DB TIMEOUT", level="ERROR")
    assert found == ["db timeout late", *[f"db timeout {i}" for i in range(5, -1, -1)]]
    assert len(await all_messages(storage, search="timeout")) == 11


async def test_request_filters_and_path_search(storage: Any) -> None:
    await storage.save_requests(
        [
            request("/items/1", method="GET", status=200),
            request("/items/2", method="GET", status=404),
            request("/items/3", method="POST", status=422),
            request("/users/9", method="GET", status=500),
            request("/users/10", method="delete", status=503),
        ]
    )

    async def paths(**filters: Any) -> list[str]:
        page = await storage.list_requests(RequestQuery(limit=100, **filters))
        return [item.path for item in page.items]

    async def check() -> None:
        assert await paths(status_class=4) == ["/items/3", "/items/2"]
        assert await paths(status_class=5) == ["/users/10", "/users/9"]
        assert await paths(method="get") == ["/users/9", "/items/2", "/items/1"]
        assert await paths(method="DELETE") == ["/users/10"]
        assert await paths(search="ITEMS/") == ["/items/3", "/items/2", "/items/1"]
        assert await paths(search="%") == []
        assert await paths(search="/users", status_class=5, method="GET") == ["/users/9"]

    await before_and_after_indexing(storage, check)


@pytest.mark.parametrize(
    "bad_id", ["abc", "", "-1", "0", "1e3", "1.0", "99999999999999999999", "1; DROP"]
)
async def test_get_with_bad_or_unknown_ids_is_none(storage: Any, bad_id: str) -> None:
    await storage.save_logs([log("x")])
    await storage.save_requests([request()])
    assert await storage.get_log(bad_id) is None
    assert await storage.get_request(bad_id) is None
    assert await storage.get_log("424242") is None
    assert await storage.get_request("424242") is None
    page = await storage.list_logs(LogQuery())
    assert await storage.get_log(f" {page.items[0].id} ") == page.items[0]


async def test_page_size_is_clamped(storage: Any) -> None:
    await storage.save_logs([log(f"m{i}") for i in range(3)])
    page = await storage.list_logs(LogQuery(limit=0))
    assert len(page.items) == 1 and page.older_cursor is not None
    page = await storage.list_logs(LogQuery(limit=10**9))
    assert len(page.items) == 3 and page.older_cursor is None
