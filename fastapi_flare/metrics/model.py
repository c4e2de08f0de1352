"""Rollup rows and the names that metrics use for routes, methods and resolutions."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi_flare.metrics import histogram

MINUTE = 60
FIVE_MINUTES = 300
HOUR = 3600
DAY = 86_400
RESOLUTIONS: tuple[int, ...] = (MINUTE, FIVE_MINUTES, HOUR, DAY)

# Sentinels never clash with a route template: Starlette requires those to start with "/".
ALL_ROUTES = "*"
ALL_METHODS = "*"
UNMATCHED_ROUTE = "<unmatched>"
OTHER_ROUTE = "<other>"
OTHER_METHOD = "OTHER"
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)

# Column order of the metrics table, shared by both backends.
COLUMNS: tuple[str, ...] = (
    "resolution",
    "bucket_start",
    "route",
    "method",
    "requests",
    "status_2xx",
    "status_3xx",
    "status_4xx",
    "status_5xx",
    "duration_sum",
    "duration_min",
    "duration_max",
    "hist_offset",
    "histogram",
)
# What the readers fetch back, in this order (see ``StoredRow``).
READ_COLUMNS: tuple[str, ...] = (
    "bucket_start",
    "route",
    "method",
    "requests",
    "status_2xx",
    "status_3xx",
    "status_4xx",
    "status_5xx",
    "duration_sum",
    "duration_min",
    "duration_max",
    "hist_offset",
    "histogram",
)
KEY: tuple[str, ...] = ("resolution", "bucket_start", "route", "method")
StoredRow = tuple[int, str, str, int, int, int, int, int, float, float, float, int, bytes]


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One rollup: a bucket (minute, 5 minutes, hour or UTC day) of one route and method.

    ``route`` is ``ALL_ROUTES`` on the per-bucket totals that feed the charts. A flush
    carries rows holding only what happened since the previous flush; the store adds
    them to the stored rows (see ``store.MetricsStore.write``).
    """

    resolution: int
    bucket_start: int
    route: str
    method: str
    requests: int
    status_2xx: int
    status_3xx: int
    status_4xx: int
    status_5xx: int
    duration_sum: float
    duration_min: float
    duration_max: float
    hist_offset: int
    histogram: bytes

    def values(
        self,
    ) -> tuple[int, int, str, str, int, int, int, int, int, float, float, float, int, bytes]:
        """Column values in ``COLUMNS`` order."""
        return (
            self.resolution,
            self.bucket_start,
            self.route,
            self.method,
            self.requests,
            self.status_2xx,
            self.status_3xx,
            self.status_4xx,
            self.status_5xx,
            self.duration_sum,
            self.duration_min,
            self.duration_max,
            self.hist_offset,
            self.histogram,
        )

    def plus(self, other: StoredRow) -> MetricRow:
        """This row added to a stored row of the same bucket, route and method."""
        packed = histogram.packed_value(self.hist_offset, self.histogram)
        packed += histogram.packed_value(other[11], bytes(other[12]))
        offset, blob = histogram.pack_value(packed)
        return MetricRow(
            resolution=self.resolution,
            bucket_start=self.bucket_start,
            route=self.route,
            method=self.method,
            requests=self.requests + other[3],
            status_2xx=self.status_2xx + other[4],
            status_3xx=self.status_3xx + other[5],
            status_4xx=self.status_4xx + other[6],
            status_5xx=self.status_5xx + other[7],
            duration_sum=self.duration_sum + other[8],
            duration_min=min(self.duration_min, other[9]),
            duration_max=max(self.duration_max, other[10]),
            hist_offset=offset,
            histogram=blob,
        )


@dataclass(frozen=True, slots=True)
class Batch:
    """What one flush adds, numbered per writer so that a retry is applied at most once."""

    writer: str
    seq: int
    rows: list[MetricRow]
    oldest: int  # start of the oldest minute in it (epoch seconds)
