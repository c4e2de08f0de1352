"""Dashboard queries: charts, per-route table and totals of a time range."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi_flare.metrics.model import HOUR, StoredRow
from fastapi_flare.metrics.ranges import MetricsRange
from fastapi_flare.metrics.store import MetricsStore
from fastapi_flare.metrics.summary import MetricsSummary, Rollup, RouteStats, SeriesPoint

# Sortable columns of the per-route table; "route" sorts by name.
SORT_KEYS: dict[str, Callable[[RouteStats], float]] = {
    "requests": lambda r: r.requests,
    "4xx": lambda r: r.status_4xx,
    "errors": lambda r: r.error_rate,
    "p50": lambda r: r.latency.p50 or 0.0,
    "p95": lambda r: r.latency.p95 or 0.0,
    "p99": lambda r: r.latency.p99 or 0.0,
    "max": lambda r: r.latency.maximum or 0.0,
    "route": lambda r: 0.0,
}
DEFAULT_SORT = "requests"


@dataclass(frozen=True, slots=True)
class MetricsOverview:
    """Everything the Metrics view shows for one range."""

    range: MetricsRange
    start: datetime
    now: datetime
    series: list[SeriesPoint]
    routes: list[RouteStats]
    summary: MetricsSummary


def sort_routes(routes: list[RouteStats], key: str, *, descending: bool) -> list[RouteStats]:
    """Routes ordered by one of ``SORT_KEYS``; ties (and "route") by route and method."""
    by_name = sorted(
        routes, key=lambda r: (r.route, r.method), reverse=key == "route" and descending
    )
    if key == "route":
        return by_name
    pick = SORT_KEYS.get(key, SORT_KEYS[DEFAULT_SORT])
    # sorted() is stable: equal values keep their alphabetical order in both directions.
    return sorted(by_name, key=pick, reverse=descending)


class MetricsReader:
    """Reads rollups through a ``MetricsStore`` and turns them into the views' numbers."""

    def __init__(self, store: MetricsStore) -> None:
        self.store = store

    async def overview(self, selected: MetricsRange, now: datetime) -> MetricsOverview:
        """Charts, per-route table and totals of ``selected`` ending at ``now``."""
        moment = now.timestamp()
        start, end = selected.window(moment)
        series_rows = await self.store.fetch(
            resolution=selected.series_resolution, since=start, until=end, totals=True
        )
        route_rows = await self.store.fetch(
            resolution=selected.table_resolution, since=start, until=end, totals=False
        )
        return MetricsOverview(
            range=selected,
            start=datetime.fromtimestamp(start, UTC),
            now=now,
            series=self._series(selected, moment, series_rows),
            routes=self._routes(route_rows),
            summary=self._summary(series_rows),
        )

    async def summary(self, now: datetime, hours: int = 24) -> MetricsSummary:
        """Totals of the last ``hours`` whole hours plus the current one."""
        base = int(now.timestamp() // HOUR) * HOUR
        rows = await self.store.fetch(
            resolution=HOUR, since=base - hours * HOUR, until=base + HOUR, totals=True
        )
        return self._summary(rows)

    @staticmethod
    def _series(selected: MetricsRange, now: float, rows: list[StoredRow]) -> list[SeriesPoint]:
        steps = selected.steps(now)
        first, step = steps[0], selected.step
        buckets: list[list[StoredRow]] = [[] for _ in steps]
        for row in rows:
            index = (row[0] - first) // step
            if 0 <= index < len(buckets):
                buckets[index].append(row)
        return [
            SeriesPoint.of(start, step, Rollup.of(bucket))
            for start, bucket in zip(steps, buckets, strict=True)
        ]

    @staticmethod
    def _routes(rows: list[StoredRow]) -> list[RouteStats]:
        groups: dict[tuple[str, str], list[StoredRow]] = {}
        for row in rows:
            key = (row[1], row[2])
            group = groups.get(key)
            if group is None:
                groups[key] = [row]
            else:
                group.append(row)
        return [RouteStats.of(route, method, Rollup.of(g)) for (route, method), g in groups.items()]

    @staticmethod
    def _summary(rows: list[StoredRow]) -> MetricsSummary:
        return MetricsSummary.of(Rollup.of(rows))
