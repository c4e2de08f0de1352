"""Storage contract, part 2: keyset pages, exact stats, retention and the overview."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi_flare.schema import LogQuery, Page, RequestQuery
from tests.storage.entries import NOW, all_messages, log, messages, numbered, request


def expect_page(page: Page[Any], first: int, last: int, *, older: bool, newer: bool) -> None:
    """Page holds ``entry first`` down to ``entry last`` and the right cursors."""
    assert messages(page) == [f"entry {i:04d}" for i in range(first, last - 1, -1)]
    assert (page.older_cursor is not None) is older
    assert (page.newer_cursor is not None) is newer
    if page.older_cursor is not None:
        assert page.older_cursor == int(page.items[-1].id)
    if page.newer_cursor is not None:
        assert page.newer_cursor == int(page.items[0].id)


async def test_keyset_pages_both_ways_while_rows_arrive(storage: Any) -> None:
    await storage.save_logs(numbered(25))
    p1 = await storage.list_logs(LogQuery(limit=10))
    expect_page(p1, 24, 15, older=True, newer=False)
    await storage.save_logs(numbered(5, start=25))  # new rows between page views
    p2 = await storage.list_logs(LogQuery(limit=10, before_id=p1.older_cursor))
    expect_page(p2, 14, 5, older=True, newer=True)
    p3 = await storage.list_logs(LogQuery(limit=10, before_id=p2.older_cursor))
    expect_page(p3, 4, 0, older=False, newer=True)
    back = await storage.list_logs(LogQuery(limit=10, after_id=p3.newer_cursor))
    expect_page(back, 14, 5, older=True, newer=True)
    back = await storage.list_logs(LogQuery(limit=10, after_id=back.newer_cursor))
    expect_page(back, 24, 15, older=True, newer=True)
    # Only five newer rows exist: the newest full page is shown instead.
    top = await storage.list_logs(LogQuery(limit=10, after_id=back.newer_cursor))
    expect_page(top, 29, 20, older=True, newer=False)


async def test_filtered_pages_skip_other_rows(storage: Any) -> None:
    batch = [log(f"entry {i:04d}", level="ERROR" if i % 3 == 0 else "WARNING") for i in range(30)]
    await storage.save_logs(batch)
    errors = [f"entry {i:04d}" for i in range(27, -1, -3)]
    p1 = await storage.list_logs(LogQuery(level="ERROR", limit=4))
    assert messages(p1) == errors[:4] and p1.newer_cursor is None
    p2 = await storage.list_logs(LogQuery(level="ERROR", limit=4, before_id=p1.older_cursor))
    assert messages(p2) == errors[4:8]
    p3 = await storage.list_logs(LogQuery(level="ERROR", limit=4, before_id=p2.older_cursor))
    assert messages(p3) == errors[8:] and p3.older_cursor is None
    assert p3.newer_cursor is not None


async def test_search_pages_stay_stable(storage: Any) -> None:
    await storage.save_logs(
        [log(f"entry {i:04d} needle" if i % 2 else f"entry {i:04d}") for i in range(40)]
    )
    await storage.build_search_index()
    await storage.save_logs([log(f"entry {i:04d} needle") for i in range(40, 44)])
    seen: list[str] = []
    page = await storage.list_logs(LogQuery(search="needle", limit=7))
    while True:
        seen += messages(page)
        if page.older_cursor is None:
            break
        page = await storage.list_logs(
            LogQuery(search="needle", limit=7, before_id=page.older_cursor)
        )
    expected = [f"entry {i:04d} needle" for i in [43, 42, 41, 40, *range(39, 0, -2)]]
    assert seen == expected


async def test_request_pages(storage: Any) -> None:
    await storage.save_requests([request(f"/r/{i}", status=500) for i in range(12)])
    p1 = await storage.list_requests(RequestQuery(limit=5))
    assert [r.path for r in p1.items] == [f"/r/{i}" for i in range(11, 6, -1)]
    p2 = await storage.list_requests(RequestQuery(limit=5, before_id=p1.older_cursor))
    assert [r.path for r in p2.items] == [f"/r/{i}" for i in range(6, 1, -1)]
    p3 = await storage.list_requests(RequestQuery(limit=5, before_id=p2.older_cursor))
    assert [r.path for r in p3.items] == ["/r/1", "/r/0"] and p3.older_cursor is None


async def test_stats_are_exact_at_the_24h_boundary(storage: Any) -> None:
    day = timedelta(hours=24)
    # The newest error is stored first: "latest" is by time, not by arrival.
    await storage.save_logs([log("newest", at=NOW - timedelta(seconds=1))])
    await storage.save_logs(
        [
            *[log("recent", at=NOW - timedelta(minutes=1)) for _ in range(3)],
            log("almost a day", at=NOW - day + timedelta(minutes=1)),
            log("exactly a day", at=NOW - day),
            log("just over a day", at=NOW - day - timedelta(microseconds=1)),
            log("last month", at=NOW - timedelta(days=30)),
            *[log("warn", level="WARNING", at=NOW - timedelta(hours=2)) for _ in range(2)],
            log("old warn", level="WARNING", at=NOW - day - timedelta(hours=1)),
        ]
    )
    stats = await storage.stats(NOW)
    assert (stats.errors_24h, stats.warnings_24h, stats.total) == (6, 2, 11)
    assert stats.latest_error_at == NOW - timedelta(seconds=1)

    removed = await storage.prune(older_than=NOW - day, max_entries=100, max_requests=100)
    assert removed.logs == 3
    after = await storage.stats(NOW)
    assert (after.errors_24h, after.warnings_24h, after.total) == (6, 2, 8)


async def test_stats_on_an_empty_store(storage: Any) -> None:
    stats = await storage.stats(NOW)
    assert (stats.errors_24h, stats.warnings_24h, stats.total, stats.latest_error_at) == (
        0,
        0,
        0,
        None,
    )
    assert await storage.list_events() == []
    page = await storage.list_logs(LogQuery(search="anything"))
    assert page.items == [] and page.older_cursor is None and page.newer_cursor is None


async def test_prune_by_age_and_by_count(storage: Any) -> None:
    await storage.save_logs([log(f"old {i}", at=NOW - timedelta(days=8)) for i in range(10)])
    await storage.save_logs(numbered(30))
    result = await storage.prune(older_than=NOW - timedelta(days=7), max_entries=12, max_requests=5)
    assert (result.logs, result.requests) == (28, 0)
    assert await all_messages(storage) == [f"entry {i:04d}" for i in range(29, 17, -1)]
    assert (await storage.stats(NOW)).total == 12
    again = await storage.prune(older_than=NOW - timedelta(days=7), max_entries=12, max_requests=5)
    assert (again.logs, again.requests) == (0, 0)


async def test_prune_caps_requests_as_a_ring_buffer(storage: Any) -> None:
    await storage.save_requests([request(f"/r/{i}") for i in range(20)])
    result = await storage.prune(older_than=NOW - timedelta(days=7), max_entries=10, max_requests=7)
    assert (result.logs, result.requests) == (0, 13)
    page = await storage.list_requests(RequestQuery(limit=100))
    assert [r.path for r in page.items] == [f"/r/{i}" for i in range(19, 12, -1)]
    assert (await storage.overview()).request_count == 7


async def test_prune_cap_boundaries_and_concurrent_pruners(storage: Any, backend: Any) -> None:
    """The cap removes exactly the excess, oldest first, even with two processes pruning."""
    await storage.save_logs(numbered(20))
    await storage.save_requests([request(f"/r/{i}") for i in range(20)])
    old = NOW - timedelta(days=30)
    at_or_over = await storage.prune(older_than=old, max_entries=20, max_requests=10**9)
    assert (at_or_over.logs, at_or_over.requests) == (0, 0)
    one_over = await storage.prune(older_than=old, max_entries=19, max_requests=19)
    assert (one_over.logs, one_over.requests) == (1, 1)
    assert (await all_messages(storage))[-1] == "entry 0001"
    # A second storage on the same file or table, as another worker process: both
    # prune at once and together remove the excess once, not twice.
    other = await backend.open()
    results = await asyncio.gather(
        storage.prune(older_than=old, max_entries=12, max_requests=5),
        other.prune(older_than=old, max_entries=12, max_requests=5),
    )
    assert sum(r.logs for r in results) == 7 and sum(r.requests for r in results) == 14
    assert await all_messages(storage) == [f"entry {i:04d}" for i in range(19, 7, -1)]
    overview = await other.overview()
    assert (overview.log_count, overview.request_count) == (12, 5)
    page = await storage.list_requests(RequestQuery(limit=100))
    assert [r.path for r in page.items] == [f"/r/{i}" for i in range(19, 14, -1)]


async def test_prune_in_many_chunks_keeps_search_and_counts_right(storage: Any) -> None:
    await storage.save_logs([log(f"bulk {i} needle") for i in range(4500)])
    await storage.build_search_index()
    await storage.save_logs([log(f"tail {i} needle") for i in range(20)])  # not indexed
    result = await storage.prune(older_than=NOW - timedelta(days=1), max_entries=30, max_requests=1)
    assert result.logs == 4490
    expected = [f"tail {i} needle" for i in range(19, -1, -1)]
    expected += [f"bulk {i} needle" for i in range(4499, 4489, -1)]
    assert await all_messages(storage, search="needle") == expected
    await storage.build_search_index()
    assert await all_messages(storage, search="needle") == expected
    overview = await storage.overview()
    assert overview.log_count == 30
    assert (await storage.stats(NOW)).errors_24h == 30


async def test_prune_keeps_hourly_counters_exact_across_levels_and_the_epoch(
    storage: Any,
) -> None:
    # Counters are bucketed per hour when written and subtracted per hour when
    # pruned: both sides must agree, before 1970 too (floor, not truncation).
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    moments = [epoch - timedelta(minutes=30), epoch + timedelta(minutes=30), NOW]
    await storage.save_logs(
        [
            log(f"m{i}{level}", level=level, at=at)
            for i, at in enumerate(moments)
            for level in ("ERROR", "WARNING")
        ]
    )
    await storage.save_requests([request(f"/r/{i}", at=at) for i, at in enumerate(moments)])
    result = await storage.prune(
        older_than=epoch - timedelta(days=1), max_entries=2, max_requests=1
    )
    assert (result.logs, result.requests) == (4, 2)
    overview = await storage.overview()
    assert (overview.log_count, overview.request_count) == (2, 1)
    result = await storage.prune(older_than=NOW + timedelta(hours=1), max_entries=2, max_requests=1)
    assert result.logs == 2
    assert (await storage.overview()).log_count == 0
    assert (await storage.stats(NOW)).total == 0


async def test_overview_reports_counts_and_backend_facts(storage: Any, backend: Any) -> None:
    await storage.save_logs([log("first", at=NOW - timedelta(hours=3)), log("last", at=NOW)])
    await storage.save_requests([request(), request()])
    info = await storage.overview()
    assert info.backend == backend.name and info.connected and info.error is None
    assert (info.log_count, info.request_count) == (2, 2)
    assert info.oldest_entry_at == NOW - timedelta(hours=3)
    assert info.newest_entry_at == NOW
    assert info.details["search_index"].endswith(" 4 rows pending")  # 2 logs + 2 requests
    await storage.build_search_index()
    assert (await storage.overview()).details["search_index"].endswith(" 0 rows pending")
    if backend.name == "sqlite":
        assert info.details["journal_mode"] == "wal"
        assert int(info.details["file_size_bytes"]) > 0
        assert info.location.endswith("flare.db") and info.details["sqlite_version"]
    else:
        assert info.details["server_version"][:2].isdigit()
        assert info.details["pool_size"] == "1"
        assert int(info.details["pool_in_use"]) + int(info.details["pool_idle"]) == 1
        assert info.details["logs_table_size"].split()[1] in ("bytes", "kB", "MB")
        assert backend.table in info.location
