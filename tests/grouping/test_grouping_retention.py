"""Retention keeps the issue tables exactly in step with the entries that remain."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from fastapi_flare.grouping.model import IssueChange, IssueQuery
from fastapi_flare.schema import FlareLogEntry
from tests.grouping.conftest import T0, Backend, Opened, entry
from tests.grouping.consistency import assert_consistent, expected, tables_of

FAR_FUTURE = T0 + timedelta(days=3650)


def mixed_entries(count: int, seed: int) -> list[FlareLogEntry]:
    """Entries over 6 issues, 5 IPs (some none) and ~2 days, in shuffled time order."""
    rng = random.Random(seed)
    entries = []
    for _ in range(count):
        minute = rng.randrange(0, 48 * 60)
        ip = rng.choice(["10.0.0.1", "10.0.0.2", "10.0.0.3", "2001:db8::1", "192.0.2.9", None])
        entries.append(entry(minute, f"fp-{rng.randrange(6)}", ip_address=ip))
    return entries


async def test_prune_by_age_and_by_count_keeps_counters_exact(opened: Opened) -> None:
    storage = opened.storage
    for seed in range(4):
        await storage.save_logs(mixed_entries(150, seed))
    before = await assert_consistent(storage)
    assert sum(facts.count for facts in before.values()) == 600

    cutoff = T0 + timedelta(hours=20)
    result = await storage.prune(older_than=cutoff, max_entries=10_000, max_requests=10)
    after_age = await assert_consistent(storage)
    assert result.logs > 0
    assert sum(f.count for f in after_age.values()) == 600 - result.logs
    assert all(f.first >= min(f.first for f in after_age.values()) for f in after_age.values())

    result = await storage.prune(older_than=T0 - timedelta(days=1), max_entries=57, max_requests=10)
    after_cap = await assert_consistent(storage)
    assert sum(f.count for f in after_cap.values()) == 57


async def test_an_issue_disappears_with_its_last_entry(opened: Opened) -> None:
    storage, issues = opened.storage, opened.issues
    await storage.save_logs([entry(1, "old"), entry(2, "old", ip_address="10.9.9.9")])
    await storage.save_logs([entry(600, "new")])
    await issues.apply(["old"], IssueChange("resolve"), T0)

    await storage.prune(older_than=T0 + timedelta(hours=1), max_entries=100, max_requests=10)

    page = await issues.list_issues(IssueQuery(status=None), FAR_FUTURE)
    assert [issue.fingerprint for issue in page.items] == ["new"]
    assert await issues.get_issue("old", FAR_FUTURE) is None
    t = tables_of(storage)
    for table in (t.hours, t.ips):
        rows = await storage.fetch_all(f"SELECT count(*) FROM {table} WHERE fingerprint = 'old'")  # type: ignore[attr-defined]
        assert rows[0][0] == 0
    await assert_consistent(storage)


async def test_first_and_last_seen_follow_the_remaining_entries(opened: Opened) -> None:
    storage, issues = opened.storage, opened.issues
    # Out of order on purpose: the newest entry by time is not the newest by id.
    await storage.save_logs([entry(10), entry(500), entry(30)])
    await storage.save_logs([entry(20, ip_address="10.0.0.2")])
    issue = await issues.get_issue("fp-a", FAR_FUTURE)
    assert issue is not None
    assert (issue.count, issue.distinct_ips) == (4, 2)
    assert (issue.first_seen, issue.last_seen) == (
        T0 + timedelta(minutes=10),
        T0 + timedelta(minutes=500),
    )

    await storage.prune(older_than=T0 + timedelta(minutes=25), max_entries=100, max_requests=10)
    issue = await issues.get_issue("fp-a", FAR_FUTURE)
    assert issue is not None
    assert (issue.count, issue.distinct_ips) == (2, 1)
    assert (issue.first_seen, issue.last_seen) == (
        T0 + timedelta(minutes=30),
        T0 + timedelta(minutes=500),
    )
    await assert_consistent(storage)


async def test_any_delete_is_followed_not_only_retention(opened: Opened) -> None:
    storage = opened.storage
    await storage.save_logs(mixed_entries(200, seed=7))
    t = tables_of(storage)
    rng = random.Random(3)
    ids = [row[0] for row in await storage.fetch_all(f"SELECT id FROM {t.logs}")]  # type: ignore[attr-defined]
    doomed = rng.sample(ids, 80)
    async with storage.write_transaction() as tx:  # type: ignore[attr-defined]
        marks = ", ".join(str(int(i)) for i in doomed)
        await tx.execute(f"DELETE FROM {t.logs} WHERE id IN ({marks})")
    facts = await assert_consistent(storage)
    assert sum(f.count for f in facts.values()) == 120
    # The newest entry of an issue may be among the deleted: the issue points at the new newest.
    latest = {f.latest_id for f in facts.values()}
    assert not latest & set(doomed)


async def test_entries_stored_before_grouping_get_issues(backend: Backend) -> None:
    plain = backend.storage(grouping=False)
    await plain.open()
    await plain.save_logs(
        [entry(1, "early"), entry(2, "early", ip_address="10.0.0.7"), entry(3, "b")]
    )
    await plain.close()

    grouped = backend.storage()
    await grouped.open()
    try:
        await grouped.prune(older_than=T0 - timedelta(days=1), max_entries=100, max_requests=10)
        facts = await assert_consistent(grouped)
        assert {fp: f.count for fp, f in facts.items()} == {"early": 2, "b": 1}
        await grouped.save_logs([entry(4, "early")])
        assert (await assert_consistent(grouped))["early"].count == 3
    finally:
        await grouped.close()


async def test_entries_without_a_fingerprint_are_grouped_and_linked(opened: Opened) -> None:
    storage = opened.storage
    plain = [
        entry(i, None, endpoint=f"/items/{i}", http_method="GET", http_status=404) for i in range(3)
    ]
    await storage.save_logs(plain)
    facts = await assert_consistent(storage)
    assert [f.count for f in facts.values()] == [3]
    assert len(await expected(storage)) == 1


@pytest.mark.postgres
async def test_truncating_the_logs_empties_the_issue_tables(pg_backend: Backend) -> None:
    storage = pg_backend.storage()
    await storage.open()
    try:
        await storage.save_logs(mixed_entries(30, seed=1))
        t = tables_of(storage)
        async with storage.write_transaction() as tx:  # type: ignore[attr-defined]
            await tx.execute(f"TRUNCATE {t.logs}")
        assert await assert_consistent(storage) == {}
        for table in (t.issues, t.hours, t.ips):
            rows = await storage.fetch_all(f"SELECT count(*) FROM {table}")  # type: ignore[attr-defined]
            assert rows[0][0] == 0
    finally:
        await storage.close()
