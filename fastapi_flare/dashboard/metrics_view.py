"""The Metrics view (charts, per-route table, status classes) and the Errors view's metric cards."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from fastapi_flare.dashboard.core import Dashboard, fragment_target
from fastapi_flare.dashboard.nav import StatCard
from fastapi_flare.dashboard.params import clean_text
from fastapi_flare.metrics.charts import Chart, error_chart, latency_chart, requests_chart
from fastapi_flare.metrics.model import OTHER_ROUTE, UNMATCHED_ROUTE
from fastapi_flare.metrics.ranges import DEFAULT_RANGE, RANGES, MetricsRange, parse_range
from fastapi_flare.metrics.reader import (
    DEFAULT_SORT,
    SORT_KEYS,
    MetricsOverview,
    MetricsReader,
    sort_routes,
)
from fastapi_flare.metrics.store import store_for
from fastapi_flare.metrics.units import format_count, format_latency, format_rate
from fastapi_flare.schema import StorageError
from fastapi_flare.service import FlareService, StorageUnavailable

TAB = "metrics"
# Swap targets of metrics.html; each is a block whose root element has this id.
BLOCKS = ("metrics", "routes")
# Columns whose natural first click sorts ascending; the rest start with the largest.
ASCENDING_FIRST = frozenset({"route"})
# Rows that are not a single route: no link to their errors.
GROUPED_ROUTES = frozenset({UNMATCHED_ROUTE, OTHER_ROUTE})

_readers: weakref.WeakKeyDictionary[FlareService, MetricsReader] = weakref.WeakKeyDictionary()


def reader_for(service: FlareService) -> MetricsReader:
    """The metrics reader of a dashboard's storage (built once per service)."""
    reader = _readers.get(service)
    if reader is None:
        store = store_for(service.storage)
        reader = _readers[service] = MetricsReader(store)
    return reader


@dataclass(frozen=True, slots=True)
class MetricsParams:
    """The Metrics view's state as read from the URL: range and table order."""

    range: MetricsRange
    sort: str = DEFAULT_SORT
    descending: bool = True

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> MetricsParams:
        """Read the state, falling back to defaults for anything unknown."""
        sort = (clean_text(params.get("sort"), 16) or "").lower()
        if sort not in SORT_KEYS:
            sort = DEFAULT_SORT
        order = (clean_text(params.get("dir"), 8) or "").lower()
        descending = order != "asc" if order in ("asc", "desc") else sort not in ASCENDING_FIRST
        return cls(range=parse_range(params.get("range")), sort=sort, descending=descending)

    def query_string(self, **changes: Any) -> str:
        """``?range=..&sort=..&dir=..`` with ``changes`` applied; defaults are left out."""
        state = replace(self, **changes)
        pairs: dict[str, str] = {}
        if state.range.key != DEFAULT_RANGE:
            pairs["range"] = state.range.key
        if state.sort != DEFAULT_SORT:
            pairs["sort"] = state.sort
        if state.descending == (state.sort in ASCENDING_FIRST):
            pairs["dir"] = "desc" if state.descending else "asc"
        encoded = urlencode(pairs)
        return f"?{encoded}" if encoded else ""

    def range_link(self, key: str) -> str:
        """Link to another range, keeping the order."""
        return self.query_string(range=RANGES[key])

    def sort_link(self, column: str) -> str:
        """Link that sorts by ``column``; the active column flips its direction."""
        if column == self.sort:
            return self.query_string(descending=not self.descending)
        return self.query_string(sort=column, descending=column not in ASCENDING_FIRST)

    def aria_sort(self, column: str) -> str:
        """``aria-sort`` value of a column header."""
        if column != self.sort:
            return "none"
        return "descending" if self.descending else "ascending"


def _charts(overview: MetricsOverview) -> list[Chart]:
    points = overview.series
    selected = overview.range
    return [
        requests_chart(selected, points),
        error_chart(selected, points),
        latency_chart(selected, points),
    ]


def register(router: APIRouter, dash: Dashboard) -> None:
    """Add the Metrics route to ``router``."""
    service = dash.service

    @router.get("/metrics")
    async def metrics_page(request: Request) -> Response:
        now = datetime.now(UTC)
        params = MetricsParams.parse(request.query_params)
        block = fragment_target(request, BLOCKS)
        context: dict[str, Any] = {
            "params": params,
            "ranges": RANGES,
            "enabled": service.config.metrics_enabled,
            "interval": service.config.worker_interval_seconds,
            "grouped_routes": GROUPED_ROUTES,
            "format_count": format_count,
            "format_latency": format_latency,
            "format_rate": format_rate,
            "storage_error": None,
            "overview": None,
            "charts": [],
            "routes": [],
        }
        if context["enabled"]:
            try:
                overview = await reader_for(service).overview(params.range, now)
            except StorageError as exc:
                context["storage_error"] = str(exc) or "storage unavailable"
            else:
                context["overview"] = overview
                context["charts"] = _charts(overview)
                context["routes"] = sort_routes(
                    overview.routes, params.sort, descending=params.descending
                )
        return dash.render("flare/metrics.html", context, block=block, active_tab=TAB, now=now)


async def metrics_cards(service: FlareService, now: datetime) -> list[StatCard]:
    """p95 latency and error rate over the last 24 h, for the Errors view."""
    if not service.config.metrics_enabled:
        return []
    try:
        summary = await reader_for(service).summary(now)
    except StorageError as exc:
        raise StorageUnavailable(str(exc)) from exc
    if not summary.requests:
        return [
            StatCard("p95_24h", "p95 latency · 24 h", "—", hint="no requests yet"),
            StatCard("error_rate_24h", "Error rate · 24 h", "—", hint="no requests yet"),
        ]
    latency = summary.latency
    rate = summary.error_rate or 0.0
    return [
        StatCard(
            "p95_24h",
            "p95 latency · 24 h",
            format_latency(latency.p95),
            hint=f"p50 {format_latency(latency.p50)} · p99 {format_latency(latency.p99)}",
        ),
        StatCard(
            "error_rate_24h",
            "Error rate · 24 h",
            format_rate(rate),
            hint=f"{summary.status_5xx:,} of {summary.requests:,} were 5xx",
            tone="error" if rate >= 0.01 else "warn" if rate > 0 else "ok",
        ),
    ]
