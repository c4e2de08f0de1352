"""Cells: the flat lists a bucket of one route and method is counted in, and their rows.

Layout: ``[0]`` other statuses, ``[1]`` 1xx, ``[2]``..``[5]`` 2xx..5xx, ``[6]`` duration
sum, ``[7]`` min, ``[8]`` max, then one slot per latency bin of ``histogram``. A flat list
keeps ``record`` down to a handful of index operations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import cast

from fastapi_flare.metrics import histogram
from fastapi_flare.metrics.model import ALL_METHODS, ALL_ROUTES, MetricRow

SUM, MIN, MAX, FIRST_BIN = 6, 7, 8, 9
CELL_SIZE = FIRST_BIN + histogram.BIN_COUNT
# Status code → cell slot; codes outside 100..599 count as "other".
STATUS_SLOT: tuple[int, ...] = tuple(c // 100 if 100 <= c < 600 else 0 for c in range(1000))

Cell = list[float]
Key = tuple[str, str]
# A row's figures, from ``requests`` to ``histogram`` (``MetricRow`` without its key).
Stats = tuple[int, int, int, int, int, float, float, float, int, bytes]


def new_cell() -> Cell:
    """An empty cell."""
    cell: Cell = [0] * CELL_SIZE
    cell[SUM] = 0.0
    cell[MIN] = math.inf
    cell[MAX] = 0.0
    return cell


def merge(cells: Sequence[Cell]) -> Cell:
    """One cell holding all of ``cells`` (column sums, then min and max)."""
    if len(cells) == 1:
        return cells[0]
    merged = [sum(column) for column in zip(*cells, strict=True)]
    merged[MIN] = min(cell[MIN] for cell in cells)
    merged[MAX] = max(cell[MAX] for cell in cells)
    return merged


def requests_of(cell: Cell) -> int:
    """Requests counted in a cell."""
    return int(sum(cell[:SUM]))


def stats_of(cell: Cell) -> Stats:
    """The stored figures of a cell."""
    offset, blob = histogram.pack(cast("list[int]", cell[FIRST_BIN:]))  # bins only hold ints
    counts = (int(cell[2]), int(cell[3]), int(cell[4]), int(cell[5]))
    return (requests_of(cell), *counts, float(cell[SUM]), cell[MIN], cell[MAX], offset, blob)


def bucket_stats(minutes: Sequence[Mapping[Key, Cell]]) -> tuple[dict[Key, Stats], Stats | None]:
    """Figures per route and method, and for all routes, of some minutes' cells together."""
    by_key: dict[Key, list[Cell]] = {}
    for cells in minutes:
        for key, cell in cells.items():
            by_key.setdefault(key, []).append(cell)
    merged = {key: merge(cells) for key, cells in by_key.items()}
    per_key = {key: stats_of(cell) for key, cell in merged.items() if requests_of(cell)}
    total = merge(list(merged.values())) if merged else None
    return per_key, stats_of(total) if total is not None and requests_of(total) else None


def bucket_rows(
    resolution: int,
    start: int,
    stats: tuple[dict[Key, Stats], Stats | None],
    *,
    routes: bool,
    total: bool,
) -> list[MetricRow]:
    """Rows of one bucket: one per route and method and/or the all-routes total."""
    per_key, all_routes = stats
    rows = []
    if routes:
        rows = [
            MetricRow(resolution, start, route, method, *s)
            for (route, method), s in per_key.items()
        ]
    if total and all_routes is not None:
        rows.append(MetricRow(resolution, start, ALL_ROUTES, ALL_METHODS, *all_routes))
    return rows
