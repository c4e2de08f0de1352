"""The Dashboard object views share: templates, assets, extension lists and the render helper."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from jinja2_fragments import render_block
from starlette.requests import Request
from starlette.responses import HTMLResponse

from fastapi_flare.dashboard.assets import Assets
from fastapi_flare.dashboard.formatting import FILTERS
from fastapi_flare.dashboard.nav import CARD_PROVIDERS, TABS, CardProvider, Tab
from fastapi_flare.service import FlareService

DEFAULT_REFRESH_SECONDS = 30


def build_environment() -> Environment:
    """Jinja environment for ``templates/flare``; autoescape always on."""
    env = Environment(
        loader=PackageLoader("fastapi_flare", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.filters["path_segment"] = lambda value: quote(str(value), safe="")
    return env


def fragment_target(request: Request, blocks: Sequence[str]) -> str | None:
    """The block to render for this request, or None for the full page.

    htmx requests get a block: the one whose id the request targets (``HX-Target``),
    else the first. History restores ask for the full page although they come
    from htmx, because htmx swaps them into ``<body>``.
    """
    headers = request.headers
    if headers.get("hx-request") != "true" or headers.get("hx-history-restore-request") == "true":
        return None
    if not blocks:
        return None
    target = headers.get("hx-target")
    return target if target in blocks else blocks[0]


class Dashboard:
    """Everything a view needs: the service, the templates and the shared page context."""

    def __init__(
        self,
        service: FlareService,
        *,
        refresh_seconds: int = DEFAULT_REFRESH_SECONDS,
        tabs: Sequence[Tab] | None = None,
        card_providers: Sequence[CardProvider] | None = None,
    ) -> None:
        self.service = service
        self.env = build_environment()
        self.assets = Assets()
        self.refresh_seconds = max(1, refresh_seconds)
        self.tabs = list(TABS if tabs is None else tabs)
        self.card_providers = list(CARD_PROVIDERS if card_providers is None else card_providers)

    @property
    def base(self) -> str:
        """The dashboard path, e.g. ``/flare`` (links are built from it)."""
        return self.service.config.dashboard_path

    def context(self, active_tab: str, now: datetime) -> dict[str, Any]:
        """Values every template may use."""
        base = self.base
        return {
            "title": self.service.config.dashboard_title,
            "base": base,
            "tabs": self.tabs,
            "active_tab": active_tab,
            "refresh_seconds": self.refresh_seconds,
            "now": now,
            "asset": lambda name: self.assets.url(base, name),
        }

    def render(
        self,
        template: str,
        context: dict[str, Any],
        *,
        block: str | None,
        active_tab: str,
        status_code: int = 200,
        now: datetime | None = None,
    ) -> HTMLResponse:
        """The full page, or only ``block`` (see ``fragment_target``)."""
        values = self.context(active_tab, now or datetime.now(UTC))
        values.update(context)
        if block is None:
            html = self.env.get_template(template).render(values)
        else:
            html = render_block(self.env, template, block, values)
        return HTMLResponse(
            html,
            status_code=status_code,
            headers={"Vary": "HX-Request, HX-Target", "Cache-Control": "no-store"},
        )
