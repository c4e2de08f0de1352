"""``build_dashboard_router``: the routes ``setup()`` mounts at ``dashboard_path``."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from fastapi_flare.dashboard import errors_view, issues_view, metrics_view, requests_view
from fastapi_flare.dashboard.core import DEFAULT_REFRESH_SECONDS, Dashboard
from fastapi_flare.dashboard.security import FlareRoute
from fastapi_flare.service import FlareService

ViewRegistrar = Callable[[APIRouter, Dashboard], None]

# Each screen registers its routes; add new screens here and their tab in nav.TABS.
VIEWS: list[ViewRegistrar] = [
    errors_view.register,
    issues_view.register,  # Issues tab (issue 7)
    requests_view.register,
    metrics_view.register,  # Metrics tab (issue 6)
]


def build_dashboard_router(
    service: FlareService, *, refresh_seconds: int = DEFAULT_REFRESH_SECONDS
) -> APIRouter:
    """All dashboard routes (relative paths, hidden from OpenAPI, security headers on)."""
    dash = Dashboard(service, refresh_seconds=refresh_seconds)
    router = APIRouter(route_class=FlareRoute, include_in_schema=False)

    # Served by a route, not a StaticFiles mount, so the auth dependency covers it too.
    @router.get("/static/{name}")
    async def static_file(request: Request, name: str) -> Response:
        return dash.assets.response(request, name)

    for register in VIEWS:
        register(router, dash)
    return router
