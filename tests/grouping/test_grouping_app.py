"""End to end: a real app with ``setup()`` groups its failures into issues."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI, HTTPException

from fastapi_flare import FlareConfig, setup
from fastapi_flare.grouping import issue_store
from fastapi_flare.grouping.model import Issue, IssueQuery
from fastapi_flare.grouping.store import IssueStore
from fastapi_flare.queue import push_log
from fastapi_flare.runtime import FlareRuntime
from tests.grouping.conftest import Backend
from tests.helpers import client, lifespan, wait_until


def charge(order_id: str, email: str) -> None:
    raise RuntimeError(f"charge for order {order_id} ({email}) declined after {len(email)} tries")


def checkout(order_id: str, email: str) -> None:
    if order_id.startswith("9"):
        charge(order_id, email)  # same frames, another line number
        return
    charge(order_id, email)


def refund(order_id: str) -> None:
    charge(order_id, "refunds@example.com")


def build(backend: Backend) -> tuple[FastAPI, FlareRuntime]:
    """A shop whose routes fail in a few distinct ways."""
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def order(order_id: str, email: str = "a@b.c") -> None:
        checkout(order_id, email)

    @app.get("/refunds/{order_id}")
    async def refunds(order_id: str) -> None:
        refund(order_id)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> None:
        raise HTTPException(404, f"Item {item_id} not found")

    @app.get("/users/{user_id}")
    async def user(user_id: int) -> None:
        raise HTTPException(404, f"User {user_id} not found")

    runtime = setup(app, FlareConfig(**backend.config(worker_interval_seconds=0.05)))
    return app, runtime


@dataclass
class Shop:
    runtime: FlareRuntime
    http: httpx.AsyncClient
    issues: IssueStore

    async def flushed(self, count: int) -> None:
        queue = self.runtime.queue
        await wait_until(lambda: queue.written >= count and queue.depth == 0, timeout=20)

    async def all_issues(self) -> list[Issue]:
        page = await self.issues.list_issues(IssueQuery(status=None, limit=100), datetime.now(UTC))
        return page.items


@pytest.fixture
async def shop(backend: Backend) -> AsyncIterator[Shop]:
    app, runtime = build(backend)
    store = issue_store(runtime.storage)
    assert store is not None
    async with lifespan(app), client(app) as http:
        await wait_until(runtime.worker.storage_ready.is_set, timeout=20)
        yield Shop(runtime, http, store)


async def test_many_variants_of_one_failure_are_one_issue(shop: Shop) -> None:
    for i in range(25):
        order_id = f"{9 if i % 2 else 1}{i * 7919}"
        response = await shop.http.get(
            f"/orders/{order_id}", params={"email": f"user{i}@shop{i}.example"}
        )
        assert response.status_code == 500
    for i in range(4):
        assert (await shop.http.get(f"/refunds/{i}")).status_code == 500
    for i in range(6):
        assert (await shop.http.get(f"/items/{i * 1000 + 1}")).status_code == 404
    for i in range(3):
        assert (await shop.http.get(f"/users/{i}")).status_code == 404
    await shop.flushed(38)

    issues = {(i.event, i.culprit): i for i in await shop.all_issues()}
    assert {key: i.count for key, i in issues.items()} == {
        ("unhandled_exception", "GET /orders/{order_id}"): 25,
        ("unhandled_exception", "GET /refunds/{order_id}"): 4,  # same error, another stack
        ("http_exception", "GET /items/{item_id}"): 6,
        ("http_exception", "GET /users/{user_id}"): 3,
    }
    orders = issues[("unhandled_exception", "GET /orders/{order_id}")]
    assert orders.level == "ERROR" and orders.status == "open" and orders.distinct_ips == 1
    # The title is the latest occurrence's error line.
    assert (
        orders.title
        == "RuntimeError: charge for order 1190056 (user24@shop24.example) declined after 21 tries"
    )
    assert sum(orders.hourly) == 25
    items = issues[("http_exception", "GET /items/{item_id}")]
    assert items.level == "WARNING" and items.title == "Item 5001 not found"


async def test_push_log_groups_by_event_and_message_or_explicit_fingerprint(shop: Shop) -> None:
    config = shop.runtime.config
    for i in range(10):
        await push_log(
            config,
            event="payment_failed",
            message=f"Card ending {1000 + i} declined for cus_{i}x{i}abcd (id {i})",
        )
    await push_log(config, event="payment_failed", message="Gateway unreachable")
    await push_log(
        config, event="other_event", message="Card ending 1234 declined for cus_1x1abcd (id 1)"
    )
    for text in ("quota exceeded", "rate limited", "throttled by upstream"):
        await push_log(
            config, level="WARNING", event="upstream", message=text, fingerprint="upstream-limits"
        )
    await shop.flushed(15)

    counts = sorted((i.event, i.count) for i in await shop.all_issues())
    assert counts == [
        ("other_event", 1),
        ("payment_failed", 1),
        ("payment_failed", 10),
        ("upstream", 3),
    ]
    limits = await shop.issues.get_issue("upstream-limits", datetime.now(UTC))
    assert (
        limits is not None and limits.level == "WARNING" and limits.title == "throttled by upstream"
    )
