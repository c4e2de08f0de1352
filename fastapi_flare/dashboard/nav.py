"""The dashboard's extension points: its tabs and the stats cards of the Errors view.

A new screen adds a ``Tab`` to ``TABS`` and a ``register`` function to
``fastapi_flare.dashboard.app.VIEWS``; a new stats card adds a provider to
``CARD_PROVIDERS``. Both lists are read when a router is built.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from fastapi_flare.dashboard.formatting import format_number
from fastapi_flare.service import FlareService, StorageUnavailable

logger = logging.getLogger("fastapi_flare")


@dataclass(frozen=True, slots=True)
class Tab:
    """A top navigation entry; ``path`` is relative to the dashboard path ("" is its root)."""

    key: str
    label: str
    path: str


TABS: list[Tab] = [
    Tab("errors", "Errors", ""),
    Tab("issues", "Issues", "/issues"),  # Issues tab (issue 7)
    Tab("requests", "HTTP Requests", "/requests"),
    Tab("metrics", "Metrics", "/metrics"),
]


@dataclass(frozen=True, slots=True)
class StatCard:
    """One stats card. ``moment`` renders the value as a live relative time."""

    key: str
    label: str
    value: str
    hint: str | None = None
    tone: str = "neutral"  # neutral, error, warn, ok
    moment: datetime | None = None


CardProvider = Callable[[FlareService, datetime], Awaitable[Sequence[StatCard]]]


async def log_cards(service: FlareService, now: datetime) -> list[StatCard]:
    """Errors and warnings in 24 h, total entries, latest error, dropped entries."""
    stats = await service.stats(now)
    cards = [
        StatCard(
            "errors_24h",
            "Errors · 24 h",
            format_number(stats.errors_24h),
            tone="error" if stats.errors_24h else "neutral",
        ),
        StatCard(
            "warnings_24h",
            "Warnings · 24 h",
            format_number(stats.warnings_24h),
            tone="warn" if stats.warnings_24h else "neutral",
        ),
        StatCard("total", "Total entries", format_number(stats.total), hint="kept by retention"),
        StatCard(
            "latest_error",
            "Latest error",
            "never" if stats.latest_error_at is None else "",
            moment=stats.latest_error_at,
        ),
    ]
    return cards


# ── Metrics cards (issue 6): imported when called, metrics_view imports this module.
async def metrics_cards(service: FlareService, now: datetime) -> Sequence[StatCard]:
    """p95 latency and error rate of the last 24 h (``dashboard.metrics_view``)."""
    from fastapi_flare.dashboard.metrics_view import metrics_cards as cards

    return await cards(service, now)


async def dropped_cards(service: FlareService, now: datetime) -> list[StatCard]:
    """Dropped entries: its own provider, so it shows while storage is down (when it matters)."""
    dropped = service.queue_status().dropped
    if not dropped:
        return []
    return [
        StatCard(
            "dropped",
            "Dropped entries",
            format_number(dropped),
            hint="queue was full",
            tone="error",
        )
    ]


CARD_PROVIDERS: list[CardProvider] = [log_cards, dropped_cards, metrics_cards]


async def collect_cards(
    service: FlareService, now: datetime, providers: Sequence[CardProvider]
) -> tuple[list[StatCard], str | None]:
    """Cards from every provider, plus the storage error if one could not answer.

    A failing provider loses its own cards only; the page still renders.
    """
    # Providers run at once (each reads on its own); their cards keep the providers' order.
    answers = await asyncio.gather(
        *(provider(service, now) for provider in providers), return_exceptions=True
    )
    cards: list[StatCard] = []
    error: str | None = None
    for provider, answer in zip(providers, answers, strict=True):
        if isinstance(answer, StorageUnavailable):
            error = str(answer) or "storage unavailable"
        elif isinstance(answer, Exception):  # a broken card must not take the dashboard down
            logger.error("fastapi-flare: stats card provider %r failed", provider, exc_info=answer)
        elif isinstance(answer, BaseException):
            raise answer  # cancellation: not a card's failure
        else:
            cards.extend(answer)
    return cards, error
