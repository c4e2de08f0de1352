"""Keyset pagination shared by every backend (newest first, cursors are row ids)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi_flare.schema import Page
from fastapi_flare.storage._common import Direction, PagePlan

T = TypeVar("T")

# fetch(before_id, after_id, direction, limit) -> [(row id, item)] in `direction` order.
Fetch = Callable[[int | None, int | None, Direction, int], Awaitable[list[tuple[int, T]]]]


async def keyset_page(
    fetch: Fetch[T], before_id: int | None, after_id: int | None, limit: int
) -> Page[T]:
    """One page plus exact cursors to its neighbours.

    Pages fetch ``limit + 1`` rows to learn whether the next page exists; the
    other direction is checked with a one-row probe, so a "newer" link only
    shows when newer matching rows really exist (also after new arrivals).
    """
    plan = PagePlan.of(before_id, after_id, limit)
    if plan.direction == "asc":
        return await _newer_page(fetch, plan)
    rows = await fetch(plan.before_id, plan.after_id, "desc", plan.limit + 1)
    older = rows[plan.limit][0] if len(rows) > plan.limit else None
    rows = rows[: plan.limit]
    newer: int | None = None
    if rows and plan.before_id is not None:
        probe = await fetch(None, rows[0][0], "asc", 1)
        newer = rows[0][0] if probe else None
    return Page(
        items=[item for _, item in rows],
        older_cursor=rows[-1][0] if older is not None else None,
        newer_cursor=newer,
    )


async def _newer_page(fetch: Fetch[T], plan: PagePlan) -> Page[T]:
    rows = await fetch(None, plan.after_id, "asc", plan.limit + 1)
    if len(rows) < plan.limit:
        # Fewer than a page of newer rows: show the newest full page instead,
        # like a reader who pressed "newest".
        return await keyset_page(fetch, None, None, plan.limit)
    has_newer = len(rows) > plan.limit
    rows = rows[: plan.limit]
    rows.reverse()
    probe = await fetch(rows[-1][0], None, "desc", 1)
    return Page(
        items=[item for _, item in rows],
        older_cursor=rows[-1][0] if probe else None,
        newer_cursor=rows[0][0] if has_newer else None,
    )
