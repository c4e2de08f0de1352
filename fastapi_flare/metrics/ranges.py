"""The Metrics view's time ranges: which rollups answer them and the chart step."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi_flare.metrics.model import DAY, FIVE_MINUTES, HOUR, MINUTE


@dataclass(frozen=True, slots=True)
class MetricsRange:
    """A selectable range; windows start on a ``table_resolution`` boundary."""

    key: str
    label: str
    span: int
    table_resolution: int  # rollups the per-route table reads
    series_resolution: int  # rollups the charts read
    step: int  # chart bucket, a multiple of series_resolution

    def window(self, now: float) -> tuple[int, int]:
        """``[start, end)`` in epoch seconds: at least ``span`` back, through the current bucket."""
        base = int(now // self.table_resolution) * self.table_resolution
        return base - self.span, base + self.table_resolution

    def steps(self, now: float) -> list[int]:
        """Start of every chart bucket from the window start up to ``now``."""
        start, _ = self.window(now)
        count = (int(now) - start) // self.step + 1
        return [start + i * self.step for i in range(count)]


RANGES: dict[str, MetricsRange] = {
    "1h": MetricsRange("1h", "Last hour", HOUR, FIVE_MINUTES, MINUTE, MINUTE),
    "24h": MetricsRange("24h", "Last 24 hours", 24 * HOUR, HOUR, FIVE_MINUTES, 15 * MINUTE),
    "7d": MetricsRange("7d", "Last 7 days", 7 * DAY, DAY, HOUR, HOUR),
}
DEFAULT_RANGE = "24h"
# How long each rollup is useful, as (all-routes rows?, resolution) → seconds: a little
# longer than the widest window read from it (see RANGES). Day rollups are the long-term
# record and keep ``metrics_retention_days``; nothing outlives that setting.
USEFUL_SECONDS: dict[tuple[bool, int], int] = {
    (True, MINUTE): 2 * HOUR,  # the 1 h chart
    (True, FIVE_MINUTES): 2 * DAY,  # the 24 h chart
    (False, FIVE_MINUTES): 2 * HOUR,  # the 1 h table
    (False, HOUR): 2 * DAY,  # the 24 h table
    (True, HOUR): 9 * DAY,  # the 7 d chart and the Errors view's 24 h cards
}


def parse_range(value: str | None) -> MetricsRange:
    """The range named by ``value`` (``1h``, ``24h``, ``7d``), else the default."""
    return RANGES.get((value or "").strip().lower(), RANGES[DEFAULT_RANGE])
