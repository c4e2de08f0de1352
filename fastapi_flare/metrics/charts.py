"""Chart geometry for the Metrics view: plain data that a template turns into inline SVG.

Everything is computed here (scales, ticks, bars, polylines, hover titles) so that the
template only loops; colours are SVG presentation attributes because the dashboard's
Content-Security-Policy forbids inline styles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi_flare.metrics.ranges import MetricsRange
from fastapi_flare.metrics.summary import SeriesPoint
from fastapi_flare.metrics.units import (
    bucket_label,
    format_count,
    format_latency,
    format_rate,
    nice_ceiling,
    tick_count,
)

WIDE, NARROW, HEIGHT = 1440, 720, 200  # viewBox sizes: full-width and half-width charts
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 26
PLOT_H = HEIGHT - TOP - BOTTOM

COLORS = {
    "ok": "#3fcf8e",
    "warn": "#f2b441",
    "error": "#ff5d5d",
    "info": "#62a8ff",
    "violet": "#b392f0",
    "accent": "#ff7a1a",
    "grid": "#262d3a",
    "axis": "#7d8697",
}
# Tick spacing of the time axis per chart step (seconds): every 10 min, 3 h, 1 day.
X_TICK_EVERY = {60: 600, 900: 3 * 3600, 3600: 24 * 3600}


@dataclass(frozen=True, slots=True)
class Tick:
    """An axis label at ``pos`` (x or y in chart units)."""

    pos: float
    label: str


@dataclass(frozen=True, slots=True)
class Bar:
    """One filled rectangle."""

    x: float
    y: float
    width: float
    height: float
    fill: str
    series: str


@dataclass(frozen=True, slots=True)
class Line:
    """One unbroken run of a series; single points are drawn as dots."""

    series: str
    stroke: str
    points: str
    dots: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Column:
    """A full-height hover target over one bucket, carrying its tooltip."""

    x: float
    width: float
    title: str


@dataclass(frozen=True, slots=True)
class Chart:
    """Everything one SVG needs."""

    key: str
    title: str
    description: str
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    legend: list[tuple[str, str]]
    bars: list[Bar] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    width: int = NARROW
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    plot_height: int = PLOT_H
    grid: str = COLORS["grid"]
    axis: str = COLORS["axis"]

    @property
    def plot_width(self) -> int:
        """Width of the plot area (the viewBox less the axis margins)."""
        return self.width - LEFT - RIGHT


def _y(value: float, top: float) -> float:
    return round(TOP + PLOT_H - value / top * PLOT_H, 2)


def _y_ticks(top: float, fmt: Callable[[float], str]) -> list[Tick]:
    count = tick_count(top)
    values = [top * i / count for i in range(count + 1)]
    return [Tick(_y(v, top), fmt(v) if v else "0") for v in values]


def _x_ticks(selected: MetricsRange, points: Sequence[SeriesPoint], width: int) -> list[Tick]:
    if not points:
        return []
    start = int(points[0].start.timestamp())
    span = len(points) * selected.step
    every = X_TICK_EVERY.get(selected.step, 24 * 3600)
    fmt = "%a %d" if every >= 24 * 3600 else "%H:%M"
    first = -(-start // every) * every
    plot = width - LEFT - RIGHT
    ticks = []
    for moment in range(first, start + span + 1, every):
        x = LEFT + (moment - start) / span * plot
        ticks.append(Tick(round(x, 2), datetime.fromtimestamp(moment, UTC).strftime(fmt)))
    return ticks


def _slots(count: int, width: int) -> tuple[float, float]:
    """Width of one bucket and of the bar drawn in it."""
    slot = (width - LEFT - RIGHT) / max(count, 1)
    return slot, max(slot - max(min(slot * 0.2, 2.0), 0.5), 0.5)


def _columns(
    points: Sequence[SeriesPoint], describe: Callable[[SeriesPoint], str], width: int
) -> list[Column]:
    slot, _ = _slots(len(points), width)
    return [
        Column(round(LEFT + i * slot, 2), round(slot, 2), describe(p)) for i, p in enumerate(points)
    ]


def _lines(
    points: Sequence[SeriesPoint],
    series: Sequence[tuple[str, str, Callable[[SeriesPoint], float | None]]],
    top: float,
    width: int,
) -> list[Line]:
    slot, _ = _slots(len(points), width)
    lines: list[Line] = []
    for name, color, value_of in series:
        run: list[tuple[float, float]] = []
        for i, point in enumerate([*points, None]):
            value = None if point is None else value_of(point)
            if value is not None:
                run.append((round(LEFT + (i + 0.5) * slot, 2), _y(value, top)))
                continue
            if run:
                text = " ".join(f"{x},{y}" for x, y in run)
                lines.append(Line(name, color, text, dots=run if len(run) == 1 else []))
                run = []
    return lines


def requests_chart(
    selected: MetricsRange, points: Sequence[SeriesPoint], width: int = WIDE
) -> Chart:
    """Stacked bars of requests per minute: successful, 4xx and 5xx."""
    top = nice_ceiling(max((p.per_minute for p in points), default=0.0))
    slot, bar = _slots(len(points), width)
    bars: list[Bar] = []
    for i, p in enumerate(points):
        scale = 60 / p.seconds / top * PLOT_H  # chart units per request of this bucket
        base = float(TOP + PLOT_H)
        for series, tone, count in (
            ("ok", "ok", p.requests - p.status_4xx - p.status_5xx),
            ("4xx", "warn", p.status_4xx),
            ("5xx", "error", p.status_5xx),
        ):
            if count:
                height = count * scale
                base -= height
                x, y, h, w = (
                    round(LEFT + i * slot, 2),
                    round(base, 2),
                    round(height, 2),
                    round(bar, 2),
                )
                bars.append(Bar(x, y, w, h, COLORS[tone], series))

    def describe(p: SeriesPoint) -> str:
        return (
            f"{bucket_label(p.start, p.seconds)} · {p.requests:,} requests "
            f"({format_count(round(p.per_minute, 2))}/min) · 2xx {p.status_2xx:,} · "
            f"3xx {p.status_3xx:,} · 4xx {p.status_4xx:,} · 5xx {p.status_5xx:,}"
        )

    return Chart(
        key="requests",
        title="Requests per minute",
        description=f"Requests per minute, {selected.label.lower()}, stacked by status class.",
        y_ticks=_y_ticks(top, format_count),
        x_ticks=_x_ticks(selected, points, width),
        legend=[(COLORS["ok"], "2xx/3xx"), (COLORS["warn"], "4xx"), (COLORS["error"], "5xx")],
        bars=bars,
        columns=_columns(points, describe, width),
        width=width,
    )


def error_chart(
    selected: MetricsRange, points: Sequence[SeriesPoint], width: int = NARROW
) -> Chart:
    """Error rate (5xx share) and the 4xx share over time."""
    highest = max((max(p.error_rate or 0, p.client_error_rate or 0) for p in points), default=0)
    top = nice_ceiling(highest * 100) / 100 if highest else 0.01

    def describe(p: SeriesPoint) -> str:
        if not p.requests:
            return f"{bucket_label(p.start, p.seconds)} · no requests"
        return (
            f"{bucket_label(p.start, p.seconds)} · 5xx {format_rate(p.error_rate)} "
            f"({p.status_5xx:,}) · 4xx {format_rate(p.client_error_rate)} "
            f"({p.status_4xx:,}) of {p.requests:,} requests"
        )

    series = [
        ("5xx", COLORS["error"], lambda p: p.error_rate),
        ("4xx", COLORS["warn"], lambda p: p.client_error_rate),
    ]
    return Chart(
        key="errors",
        title="Error rate",
        description=f"Share of 5xx (error rate) and 4xx responses, {selected.label.lower()}.",
        y_ticks=_y_ticks(top, lambda share: f"{share * 100:g} %"),
        x_ticks=_x_ticks(selected, points, width),
        legend=[(COLORS["error"], "5xx (error rate)"), (COLORS["warn"], "4xx")],
        lines=_lines(points, series, top, width),
        columns=_columns(points, describe, width),
        width=width,
    )


def latency_chart(
    selected: MetricsRange, points: Sequence[SeriesPoint], width: int = NARROW
) -> Chart:
    """p50, p95 and p99 latency over time."""
    highest = max((p.latency.p99 or 0.0 for p in points), default=0.0)
    top = nice_ceiling(highest * 1000) / 1000 if highest else 0.001

    def describe(p: SeriesPoint) -> str:
        if not p.requests:
            return f"{bucket_label(p.start, p.seconds)} · no requests"
        lat = p.latency
        return (
            f"{bucket_label(p.start, p.seconds)} · p50 {format_latency(lat.p50)} · "
            f"p95 {format_latency(lat.p95)} · p99 {format_latency(lat.p99)} · "
            f"{p.requests:,} requests"
        )

    series = [
        ("p50", COLORS["info"], lambda p: p.latency.p50),
        ("p95", COLORS["violet"], lambda p: p.latency.p95),
        ("p99", COLORS["accent"], lambda p: p.latency.p99),
    ]
    return Chart(
        key="latency",
        title="Latency",
        description=f"p50, p95 and p99 response time, {selected.label.lower()}.",
        y_ticks=_y_ticks(top, format_latency),
        x_ticks=_x_ticks(selected, points, width),
        legend=[(COLORS["info"], "p50"), (COLORS["violet"], "p95"), (COLORS["accent"], "p99")],
        lines=_lines(points, series, top, width),
        columns=_columns(points, describe, width),
        width=width,
    )
