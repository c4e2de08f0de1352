"""Rollups through real storage: exact numbers, merging writers, idempotence, empty ranges, retention."""

from __future__ import annotations

import asyncio
import math
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fastapi_flare.metrics.aggregator import MetricsAggregator
from fastapi_flare.metrics.job import MetricsFlushJob
from fastapi_flare.metrics.model import ALL_ROUTES, DAY, FIVE_MINUTES, HOUR, MINUTE, UNMATCHED_ROUTE
from fastapi_flare.metrics.ranges import RANGES
from fastapi_flare.metrics.reader import MetricsReader
from fastapi_flare.schema import PruneResult
from tests.conftest import PG_DSN, unavailable
from tests.metrics.conftest import T0, Backend, Clock, batch_of, pg_reachable, record_all


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def nearest_rank(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def close(estimate: float | None, truth: float) -> bool:
    return estimate is not None and abs(estimate - truth) / truth <= 0.05


async def test_known_latencies_come_back_exactly(backend: Backend) -> None:
    _, store = await backend.open()
    clock = Clock(T0)
    agg = MetricsAggregator(100, clock=clock)
    durations = [i * 0.0002 for i in range(1, 1001)]  # 0.2 ms .. 200 ms, evenly
    statuses = [500] * 10 + [404] * 40 + [200] * 950
    record_all(
        agg,
        clock,
        T0 + 30,
        (("/items/{id}", "GET", s, d) for s, d in zip(statuses, durations, strict=True)),
    )
    record_all(agg, clock, T0 + 30, [(None, "GET", 404, 0.001)] * 7)
    await store.write(batch_of(agg))

    overview = await MetricsReader(store).overview(RANGES["1h"], at(T0 + 45))
    routes = {(r.route, r.method): r for r in overview.routes}
    assert set(routes) == {("/items/{id}", "GET"), (UNMATCHED_ROUTE, "GET")}
    items = routes[("/items/{id}", "GET")]
    assert (items.requests, items.status_4xx, items.status_5xx) == (1000, 40, 10)
    assert items.error_rate == 0.01
    assert close(items.latency.p50, 0.1)
    assert close(items.latency.p95, 0.19)
    assert close(items.latency.p99, 0.198)
    assert items.latency.maximum == pytest.approx(0.2)
    assert items.latency.mean == pytest.approx(sum(durations) / 1000)
    assert routes[(UNMATCHED_ROUTE, "GET")].requests == 7

    summary = overview.summary
    assert (summary.requests, summary.status_4xx, summary.status_5xx) == (1007, 47, 10)
    assert {s.label: s.count for s in summary.statuses} == {
        "2xx": 950,
        "3xx": 0,
        "4xx": 47,
        "5xx": 10,
    }
    assert len(overview.series) == 61  # 60 whole minutes back plus the current one
    assert [p.requests for p in overview.series if p.requests] == [1007]
    assert overview.series[-1].start == at(T0)


async def test_two_processes_on_one_database_merge(backend: Backend) -> None:
    storage_a, store_a = await backend.open()
    storage_b, store_b = await backend.open()  # a second process: own connections, own writer
    clock = Clock(T0)
    agg_a = MetricsAggregator(100, clock=clock, writer="process-a")
    agg_b = MetricsAggregator(100, clock=clock, writer="process-b")
    job_a, job_b = MetricsFlushJob(agg_a), MetricsFlushJob(agg_b)
    rng = random.Random(11)
    fast = [rng.uniform(0.001, 0.010) for _ in range(3000)]
    slow = [rng.uniform(0.050, 0.400) for _ in range(1000)]
    record_all(agg_a, clock, T0 + 10, (("/a", "GET", 200, d) for d in fast))
    record_all(agg_b, clock, T0 + 20, (("/a", "GET", 503, d) for d in slow))
    # Both flush the current minute, keep counting and flush again: each batch is
    # added once to the one row per bucket, route and method.
    await asyncio.gather(job_a(storage_a), job_b(storage_b))
    record_all(agg_a, clock, T0 + 30, [("/a", "GET", 200, 0.002)] * 5)
    record_all(agg_b, clock, T0 + 70, [("/a", "GET", 200, 0.002)] * 7)
    await asyncio.gather(job_a(storage_a), job_b(storage_b))
    await asyncio.gather(job_a(storage_a), job_b(storage_b))  # nothing new: no writes
    assert (job_a.batches_written, job_b.batches_written) == (2, 2)

    for store in (store_a, store_b):
        overview = await MetricsReader(store).overview(RANGES["24h"], at(T0 + 90))
        (route,) = overview.routes
        assert (route.requests, route.status_5xx) == (4012, 1000)
        samples = fast + slow + [0.002] * 12
        for q, value in (
            (0.5, route.latency.p50),
            (0.95, route.latency.p95),
            (0.99, route.latency.p99),
        ):
            assert close(value, nearest_rank(samples, q)), (q, value)
        assert route.latency.maximum == max(samples)
        assert overview.summary.requests == 4012
        assert sum(p.requests for p in overview.series) == 4012
    minute_rows = await store_a.fetch(resolution=MINUTE, since=T0, until=T0 + HOUR, totals=True)
    assert sorted((r[0], r[3]) for r in minute_rows) == [(T0, 4005), (T0 + 60, 7)]
    hour_rows = await store_b.fetch(resolution=HOUR, since=T0, until=T0 + HOUR, totals=False)
    assert [(r[1], r[3]) for r in hour_rows] == [("/a", 4012)]


async def test_a_retried_batch_counts_once(backend: Backend) -> None:
    _, store = await backend.open()
    clock = Clock(T0)
    agg = MetricsAggregator(100, clock=clock, writer="w")
    record_all(agg, clock, T0 + 5, [("/a", "POST", 201, 0.004)] * 25)
    batch = agg.collect()
    assert batch is not None
    assert await store.write(batch) is True
    # The commit went through but the process never heard back: it retries the batch.
    assert await store.write(batch) is False
    agg.written(batch)
    record_all(agg, clock, T0 + 6, [("/a", "POST", 201, 0.004)] * 3)
    assert await store.write(batch_of(agg)) is True
    summary = await MetricsReader(store).summary(at(T0 + 10))
    assert summary.requests == 28
    totals = await store.fetch(resolution=HOUR, since=T0, until=T0 + HOUR, totals=True)
    assert [(r[1], r[2], r[3]) for r in totals] == [(ALL_ROUTES, "*", 28)]


async def test_concurrent_writers_lose_no_update(backend: Backend) -> None:
    opened = [await backend.open() for _ in range(4)]
    clock = Clock(T0)
    aggs = [MetricsAggregator(100, clock=clock, writer=f"p{n}") for n in range(4)]

    async def flush_many(n: int) -> None:
        for round_ in range(5):
            record_all(aggs[n], clock, T0 + 1, [("/a", "GET", 200, 0.001 * (n + 1))] * (round_ + 1))
            await opened[n][1].write(batch_of(aggs[n]))

    await asyncio.gather(*(flush_many(n) for n in range(4)))
    summary = await MetricsReader(opened[0][1]).summary(at(T0 + 10))
    assert summary.requests == 4 * (1 + 2 + 3 + 4 + 5)
    assert summary.latency.maximum == 0.004


@pytest.mark.parametrize("key", ["1h", "24h", "7d"])
async def test_empty_ranges_have_zero_points_and_no_percentiles(backend: Backend, key: str) -> None:
    _, store = await backend.open()
    clock = Clock(T0 - 30 * 24 * HOUR)
    agg = MetricsAggregator(100, clock=clock)
    record_all(agg, clock, clock.now, [("/old", "GET", 200, 0.01)] * 3)  # outside every range
    await store.write(batch_of(agg))
    now = T0 + 30 * MINUTE
    overview = await MetricsReader(store).overview(RANGES[key], at(now))
    since_midnight = (now % DAY) // HOUR  # the 7 d window starts at a UTC midnight
    expected_points = {"1h": 61, "24h": 24 * 4 + 3, "7d": 7 * 24 + since_midnight + 1}[key]
    assert len(overview.series) == expected_points
    assert all(p.requests == 0 and p.latency.p95 is None for p in overview.series)
    assert overview.routes == []
    assert overview.summary.requests == 0
    assert overview.summary.error_rate is None
    assert overview.summary.latency.p50 is None
    empty = await MetricsReader(store).summary(at(now))
    assert (empty.requests, empty.latency.p95) == (0, None)


async def test_24h_chart_sums_minutes_into_quarter_hours(backend: Backend) -> None:
    _, store = await backend.open()
    clock = Clock(T0)
    agg = MetricsAggregator(100, clock=clock)
    for minute in range(40):  # 40 minutes, minute m has m + 1 requests
        record_all(agg, clock, T0 + minute * MINUTE + 1, [("/a", "GET", 200, 0.003)] * (minute + 1))
    await store.write(batch_of(agg))
    overview = await MetricsReader(store).overview(RANGES["24h"], at(T0 + 40 * MINUTE))
    tail = [(p.start, p.requests) for p in overview.series[-3:]]
    assert tail == [
        (at(T0), sum(range(1, 16))),
        (at(T0 + 15 * MINUTE), sum(range(16, 31))),
        (at(T0 + 30 * MINUTE), sum(range(31, 41))),
    ]
    assert overview.series[0].start == at(T0 - 24 * HOUR)
    assert overview.routes[0].requests == sum(range(1, 41))  # from the hour rollups


async def test_retention_keeps_each_rollup_as_long_as_a_view_needs_it(backend: Backend) -> None:
    day0 = T0 - T0 % DAY
    now = day0 + 3 * DAY + 12 * HOUR
    storage, store = await backend.open(retention_days=2, clock=Clock(now))
    clock = Clock(day0)
    agg = MetricsAggregator(100, clock=clock)
    moments = (day0 + 12 * HOUR + 10, now - 47 * HOUR, now - 60)  # 72 h, 47 h and 1 min old
    for moment in moments:
        record_all(agg, clock, moment, [("/a", "GET", 200, 0.002)])
        await store.write(batch_of(agg))

    async def kept(resolution: int, totals: bool = True) -> list[int]:
        rows = await store.fetch(resolution=resolution, since=0, until=now + DAY, totals=totals)
        return sorted(r[0] for r in rows)

    assert [len(await kept(res)) for res in (MINUTE, HOUR, DAY)] == [3, 3, 3]
    assert len(await kept(FIVE_MINUTES, totals=False)) == 3

    result = await storage.prune(older_than=at(now - HOUR), max_entries=1000, max_requests=1000)

    def start(moment: int, resolution: int) -> int:
        return moment - moment % resolution

    # Minutes (1 h chart) and per-route 5 minutes (1 h table) live 2 h; the 24 h chart's
    # 5 minutes live 48 h.
    assert await kept(MINUTE) == [start(moments[2], MINUTE)]
    assert await kept(FIVE_MINUTES, totals=False) == [start(moments[2], FIVE_MINUTES)]
    five = [start(moments[1], FIVE_MINUTES), start(moments[2], FIVE_MINUTES)]
    assert await kept(FIVE_MINUTES) == five
    assert await kept(HOUR) == [start(moments[1], HOUR), start(moments[2], HOUR)]
    assert await kept(HOUR, totals=False) == await kept(HOUR)
    # A day goes once it lies wholly before the limit: day 1 still reaches into it.
    assert await kept(DAY) == [day0 + DAY, day0 + 3 * DAY]
    assert isinstance(result, PruneResult)
    assert result.metrics == 9  # minutes 2, 5 minutes 1 + 2, the first hour and day 2 + 2
    again = await storage.prune(older_than=at(now - HOUR), max_entries=1000, max_requests=1000)
    assert again.metrics == 0


async def test_charts_keep_their_hours_longer_than_the_route_table(backend: Backend) -> None:
    now = T0 + 12 * HOUR
    storage, store = await backend.open(retention_days=30, clock=Clock(now))
    clock = Clock(now - 5 * DAY)
    agg = MetricsAggregator(100, clock=clock)
    record_all(agg, clock, clock.now, [("/a", "GET", 200, 0.002)] * 4)
    await store.write(batch_of(agg))

    result = await storage.prune(older_than=at(now - HOUR), max_entries=1000, max_requests=1000)

    async def count(resolution: int, totals: bool) -> int:
        rows = await store.fetch(resolution=resolution, since=0, until=now, totals=totals)
        return sum(r[3] for r in rows)

    assert result.metrics == 4  # the minute, both 5-minute rows and the route's hour
    assert [await count(HOUR, True), await count(HOUR, False)] == [4, 0]
    assert [await count(DAY, True), await count(DAY, False)] == [4, 4]
    overview = await MetricsReader(store).overview(RANGES["7d"], at(now))
    assert overview.summary.requests == 4 and overview.routes[0].requests == 4


async def test_sqlite_reads_are_index_ranges(tmp_path: Path) -> None:
    backend = Backend("sqlite", tmp_path)
    try:
        storage, store = await backend.open()
        plans = []
        for sql in (store.sql.select_totals, store.sql.select_routes):
            rows = await storage.fetch_all("EXPLAIN QUERY PLAN " + sql, (HOUR, 0, T0))
            plans.append(" ".join(str(r[-1]) for r in rows))
        assert "USING INDEX flare_metrics_route (resolution=? AND route=?" in plans[0]
        assert "USING INDEX flare_metrics_key (resolution=? AND bucket_start>? AND" in plans[1]
    finally:
        await backend.cleanup()


@pytest.mark.postgres
async def test_postgres_tables_of_a_63_character_table_name(tmp_path: Path) -> None:
    if not await pg_reachable():
        unavailable(f"PostgreSQL is not reachable at {PG_DSN}")
    backend = Backend("postgresql", tmp_path)
    backend.table = "flare_" + uuid.uuid4().hex[:8] + "x" * 49  # 63 characters
    try:
        storage, store = await backend.open()
        clock = Clock(T0)
        agg = MetricsAggregator(10, clock=clock)
        record_all(agg, clock, T0 + 1, [("/a", "GET", 200, 0.001)] * 3)
        await store.write(batch_of(agg))
        names = await storage.fetch_all(
            "SELECT tablename FROM pg_tables WHERE starts_with(tablename, $1)",
            (backend.table[:14],),
        )
        metrics_tables = [n for (n,) in names if n.endswith(("_metrics", "_metrics_flushes"))]
        assert len(metrics_tables) == 2 and all(len(n) <= 63 for n in metrics_tables)
        assert (await MetricsReader(store).summary(at(T0 + 5))).requests == 3
    finally:
        await backend.cleanup()
