"""Chart geometry, axis numbers, time windows and table order: pure functions, exact values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fastapi_flare.metrics.charts import (
    LEFT,
    NARROW,
    PLOT_H,
    TOP,
    WIDE,
    error_chart,
    latency_chart,
    requests_chart,
)
from fastapi_flare.metrics.model import DAY, HOUR, MINUTE
from fastapi_flare.metrics.ranges import RANGES, parse_range
from fastapi_flare.metrics.reader import sort_routes
from fastapi_flare.metrics.summary import Latency, RouteStats, SeriesPoint
from fastapi_flare.metrics.units import (
    bucket_label,
    format_count,
    format_latency,
    format_rate,
    nice_ceiling,
    tick_count,
)

T0 = 1_900_000_000 - 1_900_000_000 % DAY  # a UTC midnight


def point(i: int, requests: int, s4: int = 0, s5: int = 0, p50: float | None = None) -> SeriesPoint:
    lat = Latency() if p50 is None else Latency(p50=p50, p95=p50 * 2, p99=p50 * 3)
    return SeriesPoint(
        start=datetime.fromtimestamp(T0 + i * 60, UTC),
        seconds=60,
        requests=requests,
        status_2xx=requests - s4 - s5,
        status_3xx=0,
        status_4xx=s4,
        status_5xx=s5,
        latency=lat,
    )


def test_axis_numbers_are_round() -> None:
    assert [nice_ceiling(v) for v in (0, 0.7, 1, 1.2, 3, 7, 42, 240, 0.013)] == [
        1.0, 1.0, 1.0, 2.0, 5.0, 10.0, 50.0, 250.0, 0.02,
    ]  # fmt: skip
    assert [tick_count(v) for v in (1.0, 2.0, 2.5, 5.0, 20.0, 0.02)] == [5, 4, 5, 5, 4, 4]
    assert [format_count(v) for v in (0, 0.5, 2.5, 12.5, 37.5, 150, 1000, 2500, 3_000_000)] == [
        "0", "0.5", "2.5", "12.5", "37.5", "150", "1k", "2.5k", "3M",
    ]  # fmt: skip
    assert [format_latency(v) for v in (None, 0.00042, 0.0085, 0.120, 1.25)] == [
        "—", "0.42 ms", "8.5 ms", "120 ms", "1.25 s",
    ]  # fmt: skip
    assert [format_rate(v) for v in (None, 0, 0.0005, 0.017, 0.25)] == [
        "—", "0 %", "0.05 %", "1.7 %", "25 %",
    ]  # fmt: skip


def test_bucket_labels_name_the_bucket() -> None:
    start = datetime.fromtimestamp(T0 + 14 * HOUR + 5 * MINUTE, UTC)
    assert bucket_label(start, 60) == "14:05 UTC"
    assert bucket_label(start, 900).endswith("14:05–14:20 UTC")
    assert bucket_label(start, 3600).endswith("14:05–15:05 UTC")


def test_windows_start_on_bucket_boundaries_and_cover_the_span() -> None:
    now = T0 + 5 * DAY + 14 * HOUR + 5 * MINUTE + 30
    assert RANGES["1h"].window(now) == (now - 30 - 60 * MINUTE, now - 30 + 5 * MINUTE)
    assert RANGES["24h"].window(now) == (now - 330 - 24 * HOUR, now - 330 + HOUR)
    assert RANGES["7d"].window(now) == (T0 - 2 * DAY, T0 + 6 * DAY)
    assert len(RANGES["24h"].steps(now)) == 24 * 4 + 1  # 24 h and the started quarter
    assert parse_range("7D") is RANGES["7d"]
    assert parse_range("<script>") is RANGES["24h"]
    assert parse_range(None) is RANGES["24h"]


def test_requests_chart_stacks_status_classes_to_scale() -> None:
    points = [point(0, 60, s4=10, s5=5), point(1, 0), point(2, 30)]
    chart = requests_chart(RANGES["1h"], points)
    assert (chart.width, chart.plot_width) == (WIDE, WIDE - LEFT - 12)
    assert chart.y_ticks[-1].label == "100" and chart.y_ticks[0].label == "0"
    bars = {(b.series, round(b.x)) for b in chart.bars}
    third = round(LEFT + 2 * chart.plot_width / 3)
    assert bars == {("ok", LEFT), ("4xx", LEFT), ("5xx", LEFT), ("ok", third)}
    first = [b for b in chart.bars if b.x == LEFT]
    assert sum(b.height for b in first) == pytest.approx(60 / 100 * PLOT_H, abs=0.05)
    assert first[0].y + first[0].height == pytest.approx(TOP + PLOT_H, abs=0.05)  # on the axis
    assert [c.title.split(" · ")[1] for c in chart.columns] == [
        "60 requests (60/min)", "0 requests (0/min)", "30 requests (30/min)",
    ]  # fmt: skip


def test_line_charts_break_where_there_is_no_data() -> None:
    points = [
        point(0, 10, s5=1, p50=0.010),
        point(1, 0),
        point(2, 10, p50=0.020),
        point(3, 5, p50=0.030),
    ]
    latency = latency_chart(RANGES["1h"], points)
    assert latency.width == NARROW
    p50 = [line for line in latency.lines if line.series == "p50"]
    assert [len(line.points.split()) for line in p50] == [1, 2]  # a lone point, then a run
    assert len(p50[0].dots) == 1 and p50[1].dots == []
    assert latency.y_ticks[-1].label == "100 ms"  # p99 max 90 ms → axis to 100 ms
    assert latency.columns[1].title.endswith("no requests")
    errors = error_chart(RANGES["1h"], points)
    assert errors.y_ticks[-1].label == "10 %"
    assert "5xx 10 % (1)" in errors.columns[0].title


def test_empty_series_still_draws_axes() -> None:
    points = [point(i, 0) for i in range(61)]
    for chart in (requests_chart(RANGES["1h"], points), error_chart(RANGES["1h"], points)):
        assert chart.bars == [] and chart.lines == []
        assert len(chart.columns) == 61 and len(chart.y_ticks) >= 5
        assert [t.label for t in chart.x_ticks][:2] == ["00:00", "00:10"]


def test_route_order_is_stable_and_alphabetical_on_ties() -> None:
    def route(name: str, requests: int, p95: float) -> RouteStats:
        return RouteStats(name, "GET", requests, 0, 0, 0.0, Latency(p95=p95))

    routes = [route("/b", 5, 0.1), route("/a", 5, 0.3), route("/c", 9, 0.1)]
    names = lambda rs: [r.route for r in rs]  # noqa: E731
    assert names(sort_routes(routes, "requests", descending=True)) == ["/c", "/a", "/b"]
    assert names(sort_routes(routes, "requests", descending=False)) == ["/a", "/b", "/c"]
    assert names(sort_routes(routes, "p95", descending=True)) == ["/a", "/b", "/c"]
    assert names(sort_routes(routes, "route", descending=True)) == ["/c", "/b", "/a"]
    assert names(sort_routes(routes, "bogus", descending=True)) == ["/c", "/a", "/b"]
