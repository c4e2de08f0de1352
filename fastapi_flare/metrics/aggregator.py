"""In-process rollups of every request: ``record`` does a few list and dict operations.

Requests are counted per minute × route template × method into a cell (see ``cells``).
The flush job calls ``collect``: everything counted since the last flush becomes one
numbered ``Batch`` of minute, hour and day rows, which the store adds to what is stored.
A batch whose write failed is offered again unchanged until it is written, so that the
store can recognise (by writer and number) one it already applied.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from bisect import bisect_right
from collections.abc import Callable

from fastapi_flare.metrics import histogram
from fastapi_flare.metrics.cells import (
    FIRST_BIN,
    MAX,
    MIN,
    STATUS_SLOT,
    SUM,
    Cell,
    Key,
    Stats,
    bucket_rows,
    bucket_stats,
    new_cell,
    requests_of,
)
from fastapi_flare.metrics.model import (
    ALL_ROUTES,
    DAY,
    FIVE_MINUTES,
    HOUR,
    KNOWN_METHODS,
    MINUTE,
    OTHER_METHOD,
    OTHER_ROUTE,
    UNMATCHED_ROUTE,
    Batch,
    MetricRow,
)

logger = logging.getLogger("fastapi_flare")

# The rollups a batch holds, as (resolution, per-route rows?, all-routes row?). Charts
# read all-routes rows, the route table per-route rows (see ranges.RANGES).
TIERS: tuple[tuple[int, bool, bool], ...] = (
    (MINUTE, False, True),
    (FIVE_MINUTES, True, True),
    (HOUR, True, True),
    (DAY, True, True),
)
# Closed minutes wait in memory only until the next flush; while flushes fail (storage
# down) the oldest are dropped, so memory stays bounded.
MAX_CLOSED_MINUTES = 60
# A batch whose write keeps failing is retried for this long, then dropped.
MAX_BACKLOG_SECONDS = 3 * HOUR

# Module-level names are the fastest lookups on the hot path. The tables give the cell
# slot of a duration directly: its histogram bin plus FIRST_BIN.
_FAST_SLOT = bytes(FIRST_BIN + b for b in histogram.FAST_TABLE)
_COARSE_SLOT = bytes(FIRST_BIN + b for b in histogram.COARSE_TABLE)
_SIZE = histogram.FAST_TABLE_SIZE
_STEPS = histogram.FAST_STEPS_PER_SECOND
_COARSE = histogram.COARSE_STEP
_BOUNDS = histogram.BOUNDS
_trunc = math.trunc


class MetricsAggregator:
    """Per-process request metrics; implements the capture middleware's ``MetricsSink``."""

    def __init__(
        self,
        max_routes: int,
        *,
        clock: Callable[[], float] = time.time,
        writer: str | None = None,  # names this process in the store's flush log
    ) -> None:
        self.max_routes = max_routes
        self.writer = writer or uuid.uuid4().hex[:16]
        self.dropped_requests = 0
        self._clock = clock
        self._routes: set[str] = set()
        self._minute = int(clock() // MINUTE)
        self._minute_end = float((self._minute + 1) * MINUTE)
        # Raw (route, method) → cell of the current minute, for the one-lookup fast path.
        self._cells: dict[str | None, dict[str, Cell]] = {}
        # Labelled (route, method) → cell: what gets written.
        self._keys: dict[Key, Cell] = {}
        self._closed: list[tuple[int, dict[Key, Cell]]] = []
        self._in_flight: Batch | None = None
        self._seq = 0
        self._logged_failure = False

    def record(self, route: str | None, method: str, status: int, duration_s: float) -> None:
        """Count one finished request (route None: no route matched). Never raises."""
        try:
            # Everything that can fail (NaN, odd statuses) runs before the first change.
            step = _trunc(duration_s * _STEPS)
            if 0 <= step < _SIZE:
                index = _FAST_SLOT[step]
            elif 0 <= step // _COARSE < _SIZE:
                index = _COARSE_SLOT[step // _COARSE]
            else:
                index = FIRST_BIN + bisect_right(_BOUNDS, duration_s)
            slot = STATUS_SLOT[status]
            if self._clock() >= self._minute_end:
                self._roll()
            methods = self._cells.get(route)
            cell = None if methods is None else methods.get(method)
            if cell is None:
                cell = self._open_cell(route, method)
            cell[slot] += 1
            cell[index] += 1
            cell[SUM] += duration_s
            if duration_s > cell[MAX]:
                cell[MAX] = duration_s
            if duration_s < cell[MIN]:
                cell[MIN] = duration_s
        except Exception:
            if not self._logged_failure:
                self._logged_failure = True
                logger.exception("fastapi_flare could not record a request metric; continuing")

    def route_label(self, route: str | None) -> str:
        """The stored route name: the template, ``<unmatched>`` or, past the cap, ``<other>``."""
        if route is None:
            return UNMATCHED_ROUTE
        if route in self._routes:
            return route
        if len(self._routes) < self.max_routes:
            self._routes.add(route)
            return route
        return OTHER_ROUTE

    def _open_cell(self, route: str | None, method: str) -> Cell:
        known = method in KNOWN_METHODS
        key = (self.route_label(route), method if known else OTHER_METHOD)
        cell = self._keys.get(key)
        if cell is None:
            cell = self._keys[key] = new_cell()
        # Unknown methods are client-chosen: aliasing them would let clients grow the map.
        if known:
            self._cells.setdefault(route, {})[method] = cell
        return cell

    def _roll(self) -> None:
        """Close the current minute (on the first request or flush after it ended)."""
        minute = int(self._clock() // MINUTE)
        if minute <= self._minute:
            return
        if self._keys:
            self._closed.append((self._minute, self._keys))
            if len(self._closed) > MAX_CLOSED_MINUTES:
                _, lost = self._closed.pop(0)
                self.dropped_requests += sum(requests_of(c) for c in lost.values())
        self._minute = minute
        self._minute_end = float((minute + 1) * MINUTE)
        self._cells = {}
        self._keys = {}

    def collect(self) -> Batch | None:
        """The batch to write now: the unconfirmed one again, else what is new (None: nothing)."""
        if self._clock() >= self._minute_end:
            self._roll()
        if self._in_flight is not None:
            if self._in_flight.oldest >= self._minute * MINUTE - MAX_BACKLOG_SECONDS:
                return self._in_flight
            self.dropped_requests += _requests(self._in_flight)  # storage down for too long
            self._in_flight = None
        minutes = self._closed
        if self._keys:
            # The current minute goes too; what it counts from now on goes in the next batch.
            minutes.append((self._minute, self._keys))
            self._cells, self._keys = {}, {}
        self._closed = []
        if not minutes:
            return None
        rows: list[MetricRow] = []
        # A bucket of each tier usually holds the same minutes (a flush every few seconds
        # sees one minute): their figures are computed once and shared.
        computed: dict[tuple[int, ...], tuple[dict[Key, Stats], Stats | None]] = {}
        for resolution, routes, total in TIERS:
            buckets: dict[int, list[int]] = {}
            for index, (minute, _) in enumerate(minutes):
                start = minute * MINUTE
                buckets.setdefault(start - start % resolution, []).append(index)
            for start, indexes in buckets.items():
                group = tuple(indexes)
                if group not in computed:
                    computed[group] = bucket_stats([minutes[i][1] for i in group])
                rows.extend(
                    bucket_rows(resolution, start, computed[group], routes=routes, total=total)
                )
        self._seq += 1
        self._in_flight = Batch(self.writer, self._seq, rows, minutes[0][0] * MINUTE)
        return self._in_flight

    def written(self, batch: Batch) -> None:
        """The store has ``batch`` (applied now or before): the next collect starts afresh."""
        if self._in_flight is batch:
            self._in_flight = None


def _requests(batch: Batch) -> int:
    return sum(r.requests for r in batch.rows if r.resolution == MINUTE and r.route == ALL_ROUTES)
