"""The HTTP Requests tab: tracked requests with filters, pagination and a detail view."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from fastapi_flare.dashboard.core import Dashboard, fragment_target
from fastapi_flare.dashboard.params import (
    DEFAULT_PAGE_SIZE,
    HTTP_METHODS,
    PAGE_SIZES,
    STATUS_CLASSES,
    RequestFilters,
    parse_entry_id,
)
from fastapi_flare.schema import FlareRequestEntry, Page
from fastapi_flare.service import StorageUnavailable

TAB = "requests"
BLOCKS = ("results",)


def register(router: APIRouter, dash: Dashboard) -> None:
    """Add the HTTP Requests routes to ``router``."""
    service = dash.service

    @router.get("/requests")
    async def requests_page(request: Request) -> Response:
        now = datetime.now(UTC)
        filters = RequestFilters.parse(request.query_params)
        block = fragment_target(request, BLOCKS)
        page: Page[FlareRequestEntry] | None = None
        storage_error: str | None = None
        try:
            page = await service.list_requests(filters.to_query())
        except StorageUnavailable as exc:
            storage_error = str(exc) or "storage unavailable"
        context: dict[str, Any] = {
            "filters": filters,
            "page": page,
            "storage_error": storage_error,
            "methods": HTTP_METHODS,
            "status_classes": STATUS_CLASSES,
            "page_sizes": PAGE_SIZES,
            "default_page_size": DEFAULT_PAGE_SIZE,
            "tracking": service.config.track_requests,
            "track_2xx": service.config.track_2xx_requests,
            "capture_headers": service.config.capture_request_headers,
        }
        return dash.render("flare/requests.html", context, block=block, active_tab=TAB, now=now)

    @router.get("/requests/{entry_id}")
    async def request_detail(request: Request, entry_id: str) -> Response:
        now = datetime.now(UTC)
        block = fragment_target(request, ("modal",))
        back = f"{dash.base}/requests"
        try:
            entry_key = parse_entry_id(entry_id)
            entry = None if entry_key is None else await service.get_request(entry_key)
        except StorageUnavailable as exc:
            return dash.render(
                "flare/unavailable.html",
                {"reason": str(exc) or "storage unavailable", "back": back},
                block=block,
                active_tab=TAB,
                status_code=503,
                now=now,
            )
        if entry is None:
            return dash.render(
                "flare/not_found.html",
                {"what": "request", "back": back},
                block=block,
                active_tab=TAB,
                status_code=404,
                now=now,
            )
        return dash.render(
            "flare/request_detail.html",
            {"entry": entry, "capture_headers": service.config.capture_request_headers},
            block=block,
            active_tab=TAB,
            now=now,
        )
