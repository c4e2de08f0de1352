"""The Errors view (the dashboard's landing page), its detail view and storage panel."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from fastapi_flare.dashboard.core import Dashboard, fragment_target
from fastapi_flare.dashboard.nav import collect_cards
from fastapi_flare.dashboard.params import (
    DEFAULT_PAGE_SIZE,
    PAGE_SIZES,
    TIME_RANGES,
    LogFilters,
    parse_entry_id,
)
from fastapi_flare.schema import LEVELS, FlareLogEntry, Page
from fastapi_flare.service import StorageUnavailable

TAB = "errors"
# Swap targets of errors.html; each is a block whose root element has this id.
BLOCKS = ("results", "cards", "storage")


async def storage_context(dash: Dashboard) -> dict[str, Any]:
    """The storage panel's values; overview() never raises."""
    return {"overview": await dash.service.overview(), "queue": dash.service.queue_status()}


def register(router: APIRouter, dash: Dashboard) -> None:
    """Add the Errors routes to ``router``."""
    service = dash.service

    @router.get("")
    async def errors_page(request: Request) -> Response:
        now = datetime.now(UTC)
        filters = LogFilters.parse(request.query_params)
        block = fragment_target(request, BLOCKS)
        context: dict[str, Any] = {
            "filters": filters,
            "levels": LEVELS,
            "time_ranges": TIME_RANGES,
            "page_sizes": PAGE_SIZES,
            "default_page_size": DEFAULT_PAGE_SIZE,
            "storage_error": None,
        }

        async def results() -> None:
            page: Page[FlareLogEntry] | None = None
            try:
                page = await service.list_logs(filters.to_query(now))
            except StorageUnavailable as exc:
                context["storage_error"] = str(exc) or "storage unavailable"
            context["page"] = page

        async def cards() -> None:
            context["cards"], context["cards_error"] = await collect_cards(
                service, now, dash.card_providers
            )

        async def storage() -> None:
            context.update(await storage_context(dash))

        async def events() -> None:
            names = await service.list_events()
            if filters.event and filters.event not in names:
                names = [filters.event, *names]
            context["events"] = names

        parts = {"results": results, "cards": cards, "storage": storage, "events": events}
        # The parts read independently: on PostgreSQL they run on several pooled
        # connections at once, so the full page costs its slowest query, not the sum.
        await asyncio.gather(*(part() for name, part in parts.items() if block in (None, name)))
        return dash.render("flare/errors.html", context, block=block, active_tab=TAB, now=now)

    @router.get("/logs/{entry_id}")
    async def log_detail(request: Request, entry_id: str) -> Response:
        now = datetime.now(UTC)
        block = fragment_target(request, ("modal",))
        try:
            entry_key = parse_entry_id(entry_id)
            entry = None if entry_key is None else await service.get_log(entry_key)
        except StorageUnavailable as exc:
            return dash.render(
                "flare/unavailable.html",
                {"reason": str(exc) or "storage unavailable", "back": dash.base},
                block=block,
                active_tab=TAB,
                status_code=503,
                now=now,
            )
        if entry is None:
            return dash.render(
                "flare/not_found.html",
                {"what": "log entry", "back": dash.base},
                block=block,
                active_tab=TAB,
                status_code=404,
                now=now,
            )
        return dash.render(
            "flare/log_detail.html", {"entry": entry}, block=block, active_tab=TAB, now=now
        )
