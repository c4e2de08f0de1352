"""Read-side aggregation: stored rows (any routes and buckets) into dashboard numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi_flare.metrics import histogram
from fastapi_flare.metrics.model import StoredRow

QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True, slots=True)
class Latency:
    """Latency figures in seconds; None when nothing was counted."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    mean: float | None = None
    maximum: float | None = None


@dataclass(slots=True)
class Rollup:
    """The sum of some stored rows; histograms add up by one integer addition per row."""

    requests: int = 0
    status_2xx: int = 0
    status_3xx: int = 0
    status_4xx: int = 0
    status_5xx: int = 0
    duration_sum: float = 0.0
    duration_min: float = math.inf
    duration_max: float = 0.0
    packed: int = 0

    @classmethod
    def of(cls, rows: Sequence[StoredRow]) -> Rollup:
        """The sum of stored rows (``READ_COLUMNS`` order), column by column."""
        if not rows:
            return cls()
        columns = list(zip(*rows, strict=True))
        packed = 0
        for offset, blob in zip(columns[11], columns[12], strict=True):
            packed += int.from_bytes(blob, "little") << (offset * histogram.LANE_BITS)
        return cls(
            requests=sum(columns[3]),
            status_2xx=sum(columns[4]),
            status_3xx=sum(columns[5]),
            status_4xx=sum(columns[6]),
            status_5xx=sum(columns[7]),
            duration_sum=sum(columns[8]),
            duration_min=min(columns[9]),
            duration_max=max(columns[10]),
            packed=packed,
        )

    @property
    def status_other(self) -> int:
        """1xx and non-standard statuses."""
        return self.requests - self.status_2xx - self.status_3xx - self.status_4xx - self.status_5xx

    @property
    def error_rate(self) -> float | None:
        """Share of 5xx responses (0..1); None without requests."""
        return self.status_5xx / self.requests if self.requests else None

    @property
    def client_error_rate(self) -> float | None:
        """Share of 4xx responses (0..1); None without requests."""
        return self.status_4xx / self.requests if self.requests else None

    def latency(self) -> Latency:
        """Percentiles (nearest rank, within ``histogram.RELATIVE_ERROR``), mean and max."""
        if not self.requests:
            return Latency()
        p50, p95, p99 = histogram.percentiles(
            histogram.counts_of(self.packed),
            QUANTILES,
            minimum=self.duration_min,
            maximum=self.duration_max,
        )
        return Latency(
            p50=p50,
            p95=p95,
            p99=p99,
            mean=self.duration_sum / self.requests,
            maximum=self.duration_max,
        )


@dataclass(frozen=True, slots=True)
class RouteStats:
    """One row of the per-route table."""

    route: str
    method: str
    requests: int
    status_4xx: int
    status_5xx: int
    error_rate: float
    latency: Latency

    @classmethod
    def of(cls, route: str, method: str, rollup: Rollup) -> RouteStats:
        """Figures of one route from its rollup."""
        return cls(
            route=route,
            method=method,
            requests=rollup.requests,
            status_4xx=rollup.status_4xx,
            status_5xx=rollup.status_5xx,
            error_rate=rollup.error_rate or 0.0,
            latency=rollup.latency(),
        )


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One time bucket of the charts (all routes)."""

    start: datetime
    seconds: int
    requests: int
    status_2xx: int
    status_3xx: int
    status_4xx: int
    status_5xx: int
    latency: Latency

    @property
    def per_minute(self) -> float:
        """Requests per minute in this bucket."""
        return self.requests * 60 / self.seconds

    @property
    def error_rate(self) -> float | None:
        """5xx share; None without requests."""
        return self.status_5xx / self.requests if self.requests else None

    @property
    def client_error_rate(self) -> float | None:
        """4xx share; None without requests."""
        return self.status_4xx / self.requests if self.requests else None

    @classmethod
    def of(cls, start: int, seconds: int, rollup: Rollup) -> SeriesPoint:
        """A point from the rollup of its bucket."""
        return cls(
            start=datetime.fromtimestamp(start, UTC),
            seconds=seconds,
            requests=rollup.requests,
            status_2xx=rollup.status_2xx,
            status_3xx=rollup.status_3xx,
            status_4xx=rollup.status_4xx,
            status_5xx=rollup.status_5xx,
            latency=rollup.latency(),
        )


@dataclass(frozen=True, slots=True)
class StatusShare:
    """One status class of the distribution."""

    label: str
    count: int
    share: float
    tone: str


@dataclass(frozen=True, slots=True)
class MetricsSummary:
    """Totals of a window: what the cards and the headline figures show."""

    requests: int
    status_4xx: int
    status_5xx: int
    error_rate: float | None
    client_error_rate: float | None
    latency: Latency
    statuses: list[StatusShare] = field(default_factory=list)

    @classmethod
    def of(cls, rollup: Rollup) -> MetricsSummary:
        """Totals from a rollup of the window."""
        classes = [
            ("2xx", rollup.status_2xx, "ok"),
            ("3xx", rollup.status_3xx, "redirect"),
            ("4xx", rollup.status_4xx, "warn"),
            ("5xx", rollup.status_5xx, "error"),
            ("other", rollup.status_other, "none"),
        ]
        total = rollup.requests
        return cls(
            requests=total,
            status_4xx=rollup.status_4xx,
            status_5xx=rollup.status_5xx,
            error_rate=rollup.error_rate,
            client_error_rate=rollup.client_error_rate,
            latency=rollup.latency(),
            statuses=[
                StatusShare(label, count, count / total if total else 0.0, tone)
                for label, count, tone in classes
                if count or label != "other"
            ],
        )
