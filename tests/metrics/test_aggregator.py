"""In-process rollups: exact counts, bucket placement, cardinality caps, batches and retries."""

from __future__ import annotations

from fastapi_flare.metrics import histogram
from fastapi_flare.metrics.aggregator import (
    MAX_BACKLOG_SECONDS,
    MAX_CLOSED_MINUTES,
    MetricsAggregator,
)
from fastapi_flare.metrics.model import (
    ALL_ROUTES,
    DAY,
    FIVE_MINUTES,
    HOUR,
    MINUTE,
    OTHER_METHOD,
    OTHER_ROUTE,
    UNMATCHED_ROUTE,
    Batch,
    MetricRow,
)
from tests.metrics.conftest import Clock

T0 = 1_750_000_000 - 1_750_000_000 % HOUR  # an hour boundary
DAY0 = T0 - T0 % DAY


def by_key(batch: Batch | None) -> dict[tuple[int, int, str, str], MetricRow]:
    assert batch is not None
    keyed = {(r.resolution, r.bucket_start, r.route, r.method): r for r in batch.rows}
    assert len(keyed) == len(batch.rows), "one row per bucket, route and method"
    return keyed


def test_counts_statuses_and_durations_exactly() -> None:
    clock = Clock(T0 + 10)
    agg = MetricsAggregator(100, clock=clock, writer="w1")
    for status, duration in [(200, 0.010), (201, 0.020), (404, 0.030), (500, 0.040), (302, 0.001)]:
        agg.record("/items/{item_id}", "GET", status, duration)
    agg.record("/items/{item_id}", "POST", 503, 0.5)
    batch = agg.collect()
    assert batch is not None and (batch.writer, batch.seq, batch.oldest) == ("w1", 1, T0)
    rows = by_key(batch)
    get = rows[(FIVE_MINUTES, T0, "/items/{item_id}", "GET")]
    statuses = (get.status_2xx, get.status_3xx, get.status_4xx, get.status_5xx)
    assert (get.requests, statuses) == (5, (2, 1, 1, 1))
    assert get.duration_sum == sum([0.010, 0.020, 0.030, 0.040, 0.001])
    assert (get.duration_min, get.duration_max) == (0.001, 0.040)
    total = rows[(MINUTE, T0, ALL_ROUTES, "*")]
    assert (total.requests, total.status_5xx, total.duration_max) == (6, 2, 0.5)
    assert rows[(HOUR, T0, ALL_ROUTES, "*")].requests == 6
    assert rows[(DAY, DAY0, ALL_ROUTES, "*")].requests == 6
    counts = histogram.counts_of(histogram.packed_value(total.hist_offset, total.histogram))
    assert sum(counts) == 6
    assert counts[histogram.bin_index(0.5)] == 1
    assert (MINUTE, T0, "/items/{item_id}", "GET") not in rows  # charts read totals only
    assert len(rows) == 10  # minute: the total; 5 min, hour and day: 2 routes + total


def test_unmatched_other_routes_and_unknown_methods_share_buckets() -> None:
    clock = Clock(T0)
    agg = MetricsAggregator(2, clock=clock)
    agg.record("/a", "GET", 200, 0.001)
    agg.record("/b", "GET", 200, 0.001)
    agg.record("/c", "GET", 200, 0.001)  # over the cap of two routes
    agg.record("/d", "GET", 200, 0.001)
    agg.record("/a", "GET", 200, 0.001)  # known routes keep their own bucket
    for n in range(50):
        agg.record(None, "GET", 404, 0.001)
        agg.record(None, f"X{n}", 405, 0.001)
    agg.record("/a", "BREW", 405, 0.001)
    rows = by_key(agg.collect())
    minute = {(k[2], k[3]): r.requests for k, r in rows.items() if k[0] in (MINUTE, FIVE_MINUTES)}
    assert minute == {
        ("/a", "GET"): 2,
        ("/b", "GET"): 1,
        (OTHER_ROUTE, "GET"): 2,
        (UNMATCHED_ROUTE, "GET"): 50,
        (UNMATCHED_ROUTE, OTHER_METHOD): 50,
        ("/a", OTHER_METHOD): 1,
        (ALL_ROUTES, "*"): 106,
    }
    # The cap holds for the life of the process, not per minute.
    clock.now += MINUTE
    agg.record("/e", "GET", 200, 0.001)
    assert agg.route_label("/e") == OTHER_ROUTE


def test_a_batch_is_offered_again_until_written_and_new_counts_wait() -> None:
    clock = Clock(T0 + 59 * MINUTE + 30)
    agg = MetricsAggregator(10, clock=clock)
    agg.record("/a", "GET", 200, 0.002)
    first = agg.collect()
    clock.now = T0 + HOUR + 5  # a new minute, hour (and the write of `first` failed)
    agg.record("/a", "GET", 500, 0.004)
    assert agg.collect() is first
    agg.written(first)
    second = agg.collect()
    assert second is not None and second.seq == 2
    rows = by_key(second)
    buckets = {(k[0], k[1]) for k in rows}
    assert buckets == {
        (MINUTE, T0 + HOUR),
        (FIVE_MINUTES, T0 + HOUR),
        (HOUR, T0 + HOUR),
        (DAY, DAY0),
    }
    assert rows[(DAY, DAY0, "/a", "GET")].status_5xx == 1  # only what is new
    agg.written(second)
    assert agg.collect() is None


def test_a_minute_flushed_early_sends_only_the_rest_later() -> None:
    clock = Clock(T0 + 5)
    agg = MetricsAggregator(10, clock=clock)
    agg.record("/a", "GET", 200, 0.001)
    agg.written(first := agg.collect())  # type: ignore[arg-type]
    assert by_key(first)[(MINUTE, T0, ALL_ROUTES, "*")].requests == 1
    clock.now = T0 + 50
    agg.record("/a", "GET", 200, 0.001)
    agg.record("/a", "GET", 200, 0.001)
    clock.now = T0 + 61  # the minute closes on the next flush
    rest = by_key(agg.collect())
    assert rest[(MINUTE, T0, ALL_ROUTES, "*")].requests == 2
    assert rest[(FIVE_MINUTES, T0, "/a", "GET")].requests == 2
    assert rest[(HOUR, T0, "/a", "GET")].requests == 2


def test_backlog_while_storage_is_down_is_bounded_and_counted() -> None:
    clock = Clock(T0)
    agg = MetricsAggregator(10, clock=clock)
    agg.record("/a", "GET", 200, 0.001)
    stuck = agg.collect()  # never written
    for minute in range(1, MAX_CLOSED_MINUTES + 11):
        clock.now = T0 + minute * MINUTE
        agg.record("/a", "GET", 200, 0.001)
        assert agg.collect() is stuck
    assert agg.dropped_requests == 9  # closed minutes beyond the cap
    clock.now = T0 + MAX_BACKLOG_SECONDS + 2 * MINUTE  # the stuck batch is given up
    agg.record("/a", "GET", 200, 0.001)  # closes one more minute: the oldest goes
    fresh = agg.collect()
    assert fresh is not None and fresh is not stuck
    assert agg.dropped_requests == 9 + 1 + 1  # and the one request of the stuck batch
    minutes = {r.bucket_start for r in fresh.rows if r.resolution == MINUTE}
    assert len(minutes) == MAX_CLOSED_MINUTES + 1  # the kept ones plus the current minute


def test_quiet_process_flushes_nothing() -> None:
    agg = MetricsAggregator(10, clock=Clock(T0))
    assert agg.collect() is None


def test_record_never_raises() -> None:
    agg = MetricsAggregator(10, clock=Clock(T0))
    agg.record("/a", "GET", 10_000, 0.001)  # not an HTTP status
    agg.record("/a", "GET", 200, float("nan"))
    agg.record("/a", "GET", 200, 0.001)
    rows = by_key(agg.collect())
    assert rows[(FIVE_MINUTES, T0, "/a", "GET")].requests == 1
