"""Issue states (regression, ignore until N or a date), counters and the list query."""

from __future__ import annotations

from datetime import timedelta

from fastapi_flare.grouping.model import IssueChange, IssueQuery
from tests.grouping.conftest import T0, Opened, entry

LATER = T0 + timedelta(days=1)


async def test_counters_are_kept_at_write_time(opened: Opened) -> None:
    storage, issues = opened.storage, opened.issues
    await storage.save_logs([entry(1), entry(2, ip_address="10.0.0.2"), entry(3, "fp-b")])
    await storage.save_logs([entry(65, ip_address="10.0.0.2"), entry(70, ip_address=None)])
    issue = await issues.get_issue("fp-a", T0 + timedelta(minutes=90))
    assert issue is not None
    assert (issue.count, issue.distinct_ips, issue.status, issue.regression) == (
        4,
        2,
        "open",
        False,
    )
    assert issue.first_seen == T0 + timedelta(minutes=1)
    assert issue.last_seen == T0 + timedelta(minutes=70)
    assert issue.title == "failure 70" and issue.event == "custom" and issue.level == "ERROR"
    assert issue.hourly[-2:] == [2, 2] and sum(issue.hourly) == 4 and len(issue.hourly) == 24


async def test_a_resolved_issue_reopens_as_a_regression(opened: Opened) -> None:
    storage, issues = opened.storage, opened.issues
    await storage.save_logs([entry(1), entry(2)])
    resolved_at = T0 + timedelta(minutes=10)
    assert await issues.apply(["fp-a", "unknown"], IssueChange("resolve"), resolved_at) == 1

    # Queued before the fix, written after it: no regression.
    await storage.save_logs([entry(5)])
    issue = await issues.get_issue("fp-a", LATER)
    assert issue is not None and (issue.status, issue.regression, issue.count) == (
        "resolved",
        False,
        3,
    )

    await storage.save_logs([entry(11)])
    issue = await issues.get_issue("fp-a", LATER)
    assert issue is not None and (issue.status, issue.regression, issue.count) == ("open", True, 4)
    assert issue.resolved_at == resolved_at

    await issues.apply(["fp-a"], IssueChange("reopen"), LATER)
    issue = await issues.get_issue("fp-a", LATER)
    assert issue is not None and (issue.status, issue.regression) == ("open", False)


async def test_ignore_until_n_more_occurrences(opened: Opened) -> None:
    storage, issues = opened.storage, opened.issues
    await storage.save_logs([entry(1)])
    await issues.apply(["fp-a"], IssueChange("ignore", ignore_count=3), T0)
    await storage.save_logs([entry(2)])
    await storage.save_logs([entry(3)])
    issue = await issues.get_issue("fp-a", LATER)
    assert issue is not None and (issue.status, issue.ignore_remaining) == ("ignored", 1)

    await storage.save_logs([entry(4)])
    issue = await issues.get_issue("fp-a", LATER)
    assert issue is not None
    assert (issue.status, issue.regression, issue.ignore_remaining) == ("open", False, None)
    assert issue.count == 4

    # A batch larger than the budget reopens in one go.
    await issues.apply(["fp-a"], IssueChange("ignore", ignore_count=2), T0)
    await storage.save_logs([entry(5), entry(6), entry(7)])
    issue = await issues.get_issue("fp-a", LATER)
    assert issue is not None and issue.status == "open"


async def test_ignore_until_a_date(opened: Opened) -> None:
    storage, issues = opened.storage, opened.issues
    await storage.save_logs([entry(1)])
    until = T0 + timedelta(hours=2)
    await issues.apply(["fp-a"], IssueChange("ignore", ignore_until=until), T0)
    await storage.save_logs([entry(60)])
    issue = await issues.get_issue("fp-a", T0 + timedelta(hours=1))
    assert issue is not None and (issue.status, issue.ignored_until) == ("ignored", until)

    # The date passes without a new occurrence: the issue reads as open again.
    issue = await issues.get_issue("fp-a", until)
    assert issue is not None and issue.status == "open"
    open_then = await issues.list_issues(IssueQuery(status="open"), until)
    ignored_then = await issues.list_issues(
        IssueQuery(status="ignored"), until - timedelta(seconds=1)
    )
    assert [i.fingerprint for i in open_then.items] == ["fp-a"]
    assert [i.fingerprint for i in ignored_then.items] == ["fp-a"]

    # An occurrence after the date reopens it for good.
    await storage.save_logs([entry(121)])
    issue = await issues.get_issue("fp-a", T0)
    assert issue is not None and (issue.status, issue.ignored_until) == ("open", None)


async def test_ignore_forever_and_either_condition(opened: Opened) -> None:
    storage, issues = opened.storage, opened.issues
    await storage.save_logs([entry(1), entry(1, "fp-b")])
    await issues.apply(["fp-a"], IssueChange("ignore"), T0)
    await issues.apply(
        ["fp-b"], IssueChange("ignore", ignore_count=100, ignore_until=T0 + timedelta(hours=1)), T0
    )
    await storage.save_logs([entry(600), entry(600, "fp-b")])
    a = await issues.get_issue("fp-a", LATER)
    b = await issues.get_issue("fp-b", T0)
    assert a is not None and a.status == "ignored"
    assert b is not None and b.status == "open"


async def test_list_filters_sorts_and_pages(opened: Opened) -> None:
    storage, issues = opened.storage, opened.issues
    batch = []
    for n in range(12):  # issue i-NN has NN + 1 entries and NN + 1 IPs
        batch += [
            entry(n * 10 + k, f"i-{n:02d}", ip_address=f"10.1.{n}.{k}", message=f"Boom {n} 100%_x")
            for k in range(n + 1)
        ]
    batch.append(entry(500, "warn", level="WARNING", event="slow_query", message="Slow query"))
    await storage.save_logs(batch)
    await issues.apply(["i-00", "i-01"], IssueChange("resolve"), LATER)
    await issues.apply(["i-02"], IssueChange("ignore"), LATER)

    assert await issues.status_counts(LATER) == {"open": 10, "resolved": 2, "ignored": 1}
    by_last = await issues.list_issues(IssueQuery(limit=4), LATER)
    assert [i.fingerprint for i in by_last.items] == ["warn", "i-11", "i-10", "i-09"]
    assert (by_last.total, by_last.has_next, by_last.has_previous) == (10, True, False)
    third = await issues.list_issues(IssueQuery(limit=4, offset=8), LATER)
    assert [i.fingerprint for i in third.items] == ["i-04", "i-03"]
    assert (third.has_next, third.has_previous) == (False, True)

    by_count = await issues.list_issues(IssueQuery(status=None, sort="count", limit=3), LATER)
    assert [(i.fingerprint, i.count) for i in by_count.items] == [
        ("i-11", 12),
        ("i-10", 11),
        ("i-09", 10),
    ]
    by_ips = await issues.list_issues(IssueQuery(status=None, sort="ips", limit=2), LATER)
    assert [(i.fingerprint, i.distinct_ips) for i in by_ips.items] == [("i-11", 12), ("i-10", 11)]
    by_first = await issues.list_issues(IssueQuery(status=None, sort="first_seen", limit=2), LATER)
    assert [i.fingerprint for i in by_first.items] == ["warn", "i-11"]

    resolved = await issues.list_issues(IssueQuery(status="resolved"), LATER)
    assert sorted(i.fingerprint for i in resolved.items) == ["i-00", "i-01"]
    warnings = await issues.list_issues(IssueQuery(status=None, level="WARNING"), LATER)
    assert [i.fingerprint for i in warnings.items] == ["warn"]
    for term, found in (("slow", ["warn"]), ("QUERY", ["warn"]), ("100%_", 12), ("i-07", ["i-07"])):
        page = await issues.list_issues(IssueQuery(status=None, search=term, limit=50), LATER)
        names = [i.fingerprint for i in page.items]
        assert (len(names) if isinstance(found, int) else names) == found, term
    # Wildcards are literal characters: "%" only matches a real "%".
    for hostile, total in (("%", 12), ("_", 13), ("\\", 0), ("'", 0), ("' OR 1=1 --", 0)):
        page = await issues.list_issues(IssueQuery(status=None, search=hostile), LATER)
        assert page.total == total, hostile


async def test_secret_is_shared_by_every_storage_on_the_database(opened: Opened) -> None:
    first = await opened.issues.secret("csrf")
    assert len(first) == 32
    assert await opened.issues.secret("csrf") == first
    assert await opened.issues.secret("other") != first
