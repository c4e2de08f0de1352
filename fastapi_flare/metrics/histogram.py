"""Fixed log-spaced latency bins, their lane-packed storage format and percentile estimates.

Bin ``i`` (1 ≤ i < BIN_COUNT - 1) holds durations in ``[BOUNDS[i-1], BOUNDS[i])``; bin 0
everything below ``LOWEST_SECONDS`` and the last bin everything from ``BOUNDS[-1]`` up.
Consecutive bounds grow by ``GROWTH``, so reporting a bin by the value whose relative
distance to both edges is equal is never off by more than ``RELATIVE_ERROR`` (3.85 %).

Stored histograms pack the counts into 40-bit lanes of one integer (lowest bin in the
lowest bits). Merging histograms is then a single big-integer addition, which keeps the
dashboard fast when it merges thousands of rows; a lane overflows only past 10¹²
requests in one bin of one query.
"""

from __future__ import annotations

import math
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from itertools import accumulate

LOWEST_SECONDS = 1e-5
GROWTH = 1.08
# 10 µs · 1.08^210 ≈ 105 s: the last regular bin ends above 100 s.
BIN_COUNT = 212
BOUNDS: tuple[float, ...] = tuple(LOWEST_SECONDS * GROWTH**i for i in range(BIN_COUNT - 1))
RELATIVE_ERROR = (GROWTH - 1) / (GROWTH + 1)

LANE_BITS = 40
LANE_BYTES = LANE_BITS // 8
LANE_MASK = (1 << LANE_BITS) - 1

# Fast path of the bin lookup: a duration is truncated to a 0.1 µs grid step and looked
# up in a 64 KiB table (below 6.5 ms), or on a 10 µs grid in a second one (below 655 ms);
# bisecting BOUNDS costs twice as much and is left to slower requests. A grid step moves
# a value by at most 1 % at the 10 µs floor and 0.15 % at 6.5 ms.
FAST_STEPS_PER_SECOND = 10_000_000.0
FAST_TABLE_SIZE = 65_536
COARSE_STEP = 100  # fast-grid steps per coarse-grid step
FAST_LIMIT_SECONDS = FAST_TABLE_SIZE / FAST_STEPS_PER_SECOND
FAST_TABLE: bytes = bytes(
    bisect_right(BOUNDS, step / FAST_STEPS_PER_SECOND) for step in range(FAST_TABLE_SIZE)
)
COARSE_TABLE: bytes = bytes(
    bisect_right(BOUNDS, step * COARSE_STEP / FAST_STEPS_PER_SECOND)
    for step in range(FAST_TABLE_SIZE)
)


def bin_index(seconds: float) -> int:
    """The bin of a duration (the recorder inlines the same lookup)."""
    step = math.trunc(seconds * FAST_STEPS_PER_SECOND)
    if 0 <= step < FAST_TABLE_SIZE:
        return FAST_TABLE[step]
    coarse = step // COARSE_STEP
    if 0 <= coarse < FAST_TABLE_SIZE:
        return COARSE_TABLE[coarse]
    return bisect_right(BOUNDS, seconds)


def _representative(index: int) -> float:
    if index == 0:
        return LOWEST_SECONDS / 2
    if index == BIN_COUNT - 1:
        return math.inf  # clamped to the observed maximum
    low, high = BOUNDS[index - 1], BOUNDS[index]
    return 2 * low * high / (low + high)


REPRESENTATIVE: tuple[float, ...] = tuple(_representative(i) for i in range(BIN_COUNT))


def pack(counts: Sequence[int]) -> tuple[int, bytes]:
    """``(offset, blob)``: the non-zero span of ``counts`` as little-endian 40-bit lanes.

    Counts go through an unsigned 64-bit array and strided slice copies: C loops only.
    """
    wide = array("Q", counts)
    if sys.byteorder == "big":
        wide.byteswap()
    raw = wide.tobytes()
    low = (len(raw) - len(raw.lstrip(b"\0"))) // 8
    high = -(-len(raw.rstrip(b"\0")) // 8)
    if high <= low:
        return 0, b""
    span = raw[low * 8 : high * 8]
    narrow = bytearray((high - low) * LANE_BYTES)
    for byte in range(LANE_BYTES):
        narrow[byte::LANE_BYTES] = span[byte::8]
    return low, bytes(narrow)


def pack_value(value: int) -> tuple[int, bytes]:
    """``(offset, blob)`` of a lane-packed integer: ``pack(counts_of(value))`` without lists."""
    if value <= 0:
        return 0, b""
    low = ((value & -value).bit_length() - 1) // LANE_BITS
    lanes = (value.bit_length() + LANE_BITS - 1) // LANE_BITS
    return low, (value >> (low * LANE_BITS)).to_bytes((lanes - low) * LANE_BYTES, "little")


def packed_value(offset: int, blob: bytes) -> int:
    """The lane-packed integer of a stored histogram, shifted to its offset."""
    return int.from_bytes(blob, "little") << (offset * LANE_BITS)


def counts_of(value: int) -> list[int]:
    """Per-bin counts of a (merged) lane-packed integer.

    Widens the 5-byte lanes to 8 bytes with strided slice copies and reads them as one
    unsigned 64-bit array: C loops only, a few microseconds for any histogram.
    """
    raw = value.to_bytes(BIN_COUNT * LANE_BYTES, "little")
    wide = bytearray(BIN_COUNT * 8)
    for byte in range(LANE_BYTES):
        wide[byte::8] = raw[byte::LANE_BYTES]
    counts = array("Q", wide)
    if sys.byteorder == "big":
        counts.byteswap()
    return counts.tolist()


def percentiles(
    counts: Sequence[int], quantiles: Iterable[float], *, minimum: float, maximum: float
) -> list[float | None]:
    """Nearest-rank estimates for ``quantiles`` (0 < q ≤ 1), clamped to the observed range.

    The first and last ranks are the observed minimum and maximum, exactly.
    None for every quantile when there are no counts.
    """
    cumulative = list(accumulate(counts))
    total = cumulative[-1] if cumulative else 0
    results: list[float | None] = []
    for q in quantiles:
        if total == 0:
            results.append(None)
            continue
        rank = max(1, math.ceil(q * total))
        if rank >= total:
            results.append(maximum)
        elif rank == 1:
            results.append(minimum)
        else:
            estimate = REPRESENTATIVE[bisect_left(cumulative, rank)]
            results.append(min(max(estimate, minimum), maximum))
    return results
