"""Latency bins: lookup, packing, and percentile precision on known distributions."""

from __future__ import annotations

import math
import random
from bisect import bisect_right

import pytest

from fastapi_flare.metrics import histogram
from fastapi_flare.metrics.histogram import BOUNDS, bin_index, counts_of, pack, packed_value


def exact(samples: list[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least q·n values at or below it."""
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def estimate(samples: list[float], quantiles: tuple[float, ...]) -> list[float | None]:
    counts = [0] * histogram.BIN_COUNT
    for value in samples:
        counts[bin_index(value)] += 1
    return histogram.percentiles(counts, quantiles, minimum=min(samples), maximum=max(samples))


def _uniform(rng: random.Random) -> list[float]:
    return [rng.uniform(0.001, 0.200) for _ in range(20_000)]


def _lognormal(rng: random.Random) -> list[float]:
    return [rng.lognormvariate(math.log(0.025), 0.8) for _ in range(20_000)]


def _exponential(rng: random.Random) -> list[float]:
    return [0.0002 + rng.expovariate(1 / 0.004) for _ in range(20_000)]


def _bimodal(rng: random.Random) -> list[float]:
    fast = [rng.gauss(0.003, 0.0004) for _ in range(15_000)]
    slow = [rng.gauss(0.450, 0.05) for _ in range(5_000)]
    return [max(v, 0.00005) for v in fast + slow]


def _long_tail(rng: random.Random) -> list[float]:
    return [0.0001 * rng.paretovariate(1.2) for _ in range(20_000)]


def _tiny(rng: random.Random) -> list[float]:
    # Sub-millisecond handlers: the 0.1 µs lookup grid matters here.
    return [rng.uniform(0.000012, 0.000400) for _ in range(20_000)]


@pytest.mark.parametrize(
    "distribution", [_uniform, _lognormal, _exponential, _bimodal, _long_tail, _tiny]
)
def test_percentiles_within_five_percent(distribution: object) -> None:
    rng = random.Random(1234)
    samples = distribution(rng)  # type: ignore[operator]
    quantiles = (0.5, 0.9, 0.95, 0.99, 0.999)
    for q, value in zip(quantiles, estimate(samples, quantiles), strict=True):
        truth = exact(samples, q)
        assert value is not None
        assert abs(value - truth) / truth <= 0.05, (distribution, q, value, truth)


def test_guaranteed_relative_error_is_under_four_percent() -> None:
    assert histogram.RELATIVE_ERROR < 0.0385
    rng = random.Random(7)
    for _ in range(20_000):
        value = 10 ** rng.uniform(-4.9, 1.9)
        rep = histogram.REPRESENTATIVE[bin_index(value)]
        assert abs(rep - value) / value <= histogram.RELATIVE_ERROR + 0.0101  # + 0.1 µs grid


def test_table_lookups_agree_with_bisect_except_at_grid_edges() -> None:
    rng = random.Random(3)
    mismatches = 0
    for _ in range(50_000):
        value = 10 ** rng.uniform(-5.5, 0.2)  # 3 µs .. 1.6 s: both tables and bisect
        fast, slow = bin_index(value), bisect_right(BOUNDS, value)
        assert fast in (slow, slow - 1)  # a grid step only ever rounds down
        mismatches += fast != slow
    assert mismatches < 500  # under 1 %


def test_known_latencies_give_exact_bins_and_clamped_extremes() -> None:
    samples = [0.010] * 50 + [0.020] * 45 + [0.500] * 4 + [2.0]
    p50, p95, p99 = estimate(samples, (0.5, 0.95, 0.99))
    assert p50 == pytest.approx(0.010, rel=histogram.RELATIVE_ERROR)
    assert p95 == pytest.approx(0.020, rel=histogram.RELATIVE_ERROR)
    assert p99 == pytest.approx(0.500, rel=histogram.RELATIVE_ERROR)
    assert estimate(samples, (1.0,)) == [2.0]  # the top bin is clamped to the real max
    assert estimate([0.003], (0.5, 0.99)) == [0.003, 0.003]  # one sample: exact


def test_out_of_range_values_land_in_the_edge_bins() -> None:
    assert bin_index(0.0) == 0
    assert bin_index(0.000001) == 0
    assert bin_index(1000.0) == histogram.BIN_COUNT - 1
    assert estimate([1000.0, 1500.0, 2000.0], (0.5,)) == [2000.0]  # top bin reports the max


def test_pack_round_trip_and_merge_by_addition() -> None:
    a = [0] * histogram.BIN_COUNT
    b = [0] * histogram.BIN_COUNT
    a[3], a[90], a[211] = 5, 1, 2
    b[90], b[100] = 7, 2**39
    offset, blob = pack(a)
    assert offset == 3
    assert len(blob) == (211 - 3 + 1) * histogram.LANE_BYTES
    merged = packed_value(*pack(a)) + packed_value(*pack(b))
    assert counts_of(merged) == [x + y for x, y in zip(a, b, strict=True)]
    assert pack([0] * histogram.BIN_COUNT) == (0, b"")
    assert counts_of(packed_value(0, b"")) == [0] * histogram.BIN_COUNT


def test_empty_histogram_has_no_percentiles() -> None:
    assert histogram.percentiles([0] * 5, (0.5, 0.99), minimum=0.0, maximum=0.0) == [None, None]
