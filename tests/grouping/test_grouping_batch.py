"""Folding a batch into per-issue changes: counts, latest entry, hour buckets."""

from __future__ import annotations

import random
from datetime import timedelta, timezone

from fastapi_flare.grouping.batch import _hour, deltas_for, issue_culprit, issue_title, keyed
from fastapi_flare.grouping.model import epoch_hour
from fastapi_flare.storage._common import hour_bucket
from fastapi_flare.storage.extensions import SavedLog
from tests.grouping.conftest import T0, entry


def test_hour_buckets_agree_with_the_exact_sql_buckets_at_every_edge() -> None:
    rng = random.Random(7)
    for _ in range(50_000):
        moment = T0 + timedelta(hours=rng.randrange(-500_000, 500_000))
        moment += timedelta(
            microseconds=rng.choice([0, 1, -1, 999_999, -999_999, rng.randrange(3_600_000_000)])
        )
        moment = moment.astimezone(timezone(timedelta(minutes=rng.choice([0, 330, -480, 345]))))
        assert _hour(moment) == epoch_hour(moment) == hour_bucket(moment), moment


def test_a_batch_folds_into_one_change_per_issue() -> None:
    batch = [
        entry(5, "b", ip_address="10.0.0.1", message="five"),
        entry(1, "a", ip_address="10.0.0.1"),
        entry(65, "a", ip_address="10.0.0.2", message="latest by time"),
        entry(3, "a", ip_address="10.0.0.1", message="newest id, older time"),
        entry(65, "b", ip_address=None, message="tie on time, higher id"),
        entry(64, "b", ip_address="bad\x00ip"),
    ]
    deltas = deltas_for(keyed([SavedLog(i + 10, e) for i, e in enumerate(batch)]))
    a, b = deltas
    assert (a.fingerprint, a.count, a.latest_id, a.title) == ("a", 3, 12, "latest by time")
    assert (a.first_seen, a.last_seen) == (T0 + timedelta(minutes=1), T0 + timedelta(minutes=65))
    assert a.ips == {"10.0.0.1": 2, "10.0.0.2": 1}
    assert a.hours == {epoch_hour(T0): 2, epoch_hour(T0) + 1: 1}
    assert (b.count, b.latest_id, b.title) == (3, 14, "tie on time, higher id")
    assert b.ips == {"10.0.0.1": 1, "bad\ufffdip": 1}  # stored text never holds NUL


def test_titles_and_culprits() -> None:
    crash = entry(1, error="RuntimeError: boom\nmore", stack_trace="Traceback ...", message="boom")
    assert issue_title(crash) == "RuntimeError: boom"
    http = entry(
        1,
        error="HTTPException: 404",
        message="Item 9 not found",
        route="/items/{id}",
        http_method="GET",
        endpoint="/items/9",
    )
    assert (issue_title(http), issue_culprit(http)) == ("Item 9 not found", "GET /items/{id}")
    assert issue_culprit(entry(1, endpoint="/raw")) == "/raw"
    assert issue_title(entry(1, message="  ", event="only_event")) == "only_event"
    assert len(issue_title(entry(1, message="x" * 1000))) == 300
