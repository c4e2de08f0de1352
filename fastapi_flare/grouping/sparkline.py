"""Geometry of the 24-hour sparkline; the template draws it as inline SVG bars."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi_flare.grouping.model import SPARKLINE_HOURS, epoch_hour

BAR_WIDTH = 3
BAR_GAP = 1
MIN_BAR = 1  # an hour with events is always visible, however tall the others


@dataclass(frozen=True, slots=True)
class Bar:
    """One hour: position, size and its hover text."""

    x: int
    y: int
    width: int
    height: int
    count: int
    label: str


@dataclass(frozen=True, slots=True)
class Sparkline:
    """Bars of the last 24 hours (oldest first) and the box they fit in."""

    bars: list[Bar]
    width: int
    height: int
    total: int
    peak: int


def sparkline(hourly: list[int], now: datetime, *, height: int = 24, scale: int = 1) -> Sparkline:
    """Bars for ``hourly`` counts (oldest first, ending with the current hour)."""
    counts = (hourly + [0] * SPARKLINE_HOURS)[:SPARKLINE_HOURS]
    peak = max(counts)
    step = (BAR_WIDTH + BAR_GAP) * scale
    first_hour = epoch_hour(now) - SPARKLINE_HOURS + 1
    start = datetime.fromtimestamp(first_hour * 3600, tz=UTC)
    bars = []
    for index, count in enumerate(counts):
        size = 0 if not count else max(MIN_BAR, round(count / peak * height))
        begin = start + timedelta(hours=index)
        noun = "event" if count == 1 else "events"
        label = f"{begin:%H}:00–{begin + timedelta(hours=1):%H}:00 UTC · {count} {noun}"
        bars.append(Bar(index * step, height - size, BAR_WIDTH * scale, size, count, label))
    return Sparkline(bars, SPARKLINE_HOURS * step - BAR_GAP * scale, height, sum(counts), peak)
