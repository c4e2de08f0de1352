"""The htmx dashboard mounted at ``dashboard_path``."""

from __future__ import annotations

from fastapi_flare.dashboard.app import build_dashboard_router

__all__ = ["build_dashboard_router"]
