"""Realistic demo entries for browser tests and the README screenshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from fastapi_flare.schema import FlareLogEntry, FlareRequestEntry

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer

TRACE = """Traceback (most recent call last):
  File "/srv/shop/.venv/lib/python3.12/site-packages/starlette/routing.py", line 76, in app
    response = await f(request)
  File "/srv/shop/.venv/lib/python3.12/site-packages/fastapi/routing.py", line 302, in app
    raw_response = await run_endpoint_function(
  File "/srv/shop/app/orders.py", line 48, in create_order
    charge = await payments.charge(order.total, card=order.card)
  File "/srv/shop/app/payments.py", line 112, in charge
    raise PaymentGatewayError(f"gateway timeout after {elapsed:.1f}s")
app.payments.PaymentGatewayError: gateway timeout after 10.0s"""

KINDS = [
    dict(
        level="ERROR",
        event="unhandled_exception",
        message="PaymentGatewayError: gateway timeout after 10.0s",
        error="PaymentGatewayError: gateway timeout after 10.0s",
        stack_trace=TRACE,
        endpoint="/api/orders",
        route="/api/orders",
        http_method="POST",
        http_status=500,
        duration_ms=10_012,
        context={"order_id": "ord_8f2c", "amount": 4999, "currency": "EUR", "retries": 2},
    ),
    dict(
        level="WARNING",
        event="http_exception",
        message="Item 999 not found",
        endpoint="/items/999",
        route="/items/{item_id}",
        http_method="GET",
        http_status=404,
        duration_ms=3,
    ),
    dict(
        level="ERROR",
        event="payment_failed",
        message="Stripe charge declined: insufficient funds",
        context={"order_id": "ord_123", "amount": 2500, "decline_code": "insufficient_funds"},
    ),
    dict(
        level="WARNING",
        event="http_exception",
        message="Not authenticated",
        endpoint="/api/admin/users",
        route="/api/admin/users",
        http_method="GET",
        http_status=401,
        duration_ms=1,
    ),
    dict(
        level="ERROR",
        event="unhandled_exception",
        message="KeyError: 'shipping_address'",
        error="KeyError: 'shipping_address'",
        stack_trace=TRACE.replace(
            "PaymentGatewayError: gateway timeout after 10.0s", "KeyError: 'shipping_address'"
        ),
        endpoint="/api/checkout/42",
        route="/api/checkout/{cart_id}",
        http_method="PUT",
        http_status=500,
        duration_ms=87,
    ),
    dict(
        level="WARNING",
        event="http_exception",
        message="Too many requests",
        endpoint="/api/search",
        route="/api/search",
        http_method="GET",
        http_status=429,
        duration_ms=2,
    ),
]
IPS = ["203.0.113.24", "198.51.100.7", "192.0.2.150", "203.0.113.91"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0", "curl/8.5.0", "python-httpx/0.28.1"]


def demo_logs(now: datetime, count: int = 60) -> list[FlareLogEntry]:
    """``count`` entries, oldest first, every few minutes up to ``now``."""
    entries = []
    for i in range(count):
        kind = dict(KINDS[i % len(KINDS)])
        entries.append(
            FlareLogEntry(
                timestamp=now - timedelta(minutes=7 * (count - i)),
                request_id=f"5b1e{i:04d}-9c4d-4f7a-8e2b-{i:012d}",
                ip_address=IPS[i % len(IPS)] if kind.get("endpoint") else None,
                user_agent=AGENTS[i % len(AGENTS)] if kind.get("endpoint") else None,
                **kind,
            )
        )
    return entries


def demo_requests(now: datetime, count: int = 40) -> list[FlareRequestEntry]:
    """``count`` tracked requests, oldest first."""
    shapes = [
        ("GET", "/items/{item_id}", "/items/{n}", 200, 4),
        ("POST", "/api/orders", "/api/orders", 500, 10_012),
        ("GET", "/items/{item_id}", "/items/{n}", 404, 3),
        ("GET", "/api/admin/users", "/api/admin/users", 401, 1),
        ("DELETE", "/api/carts/{cart_id}", "/api/carts/{n}", 204, 12),
    ]
    entries = []
    for i in range(count):
        method, route, path, status, duration = shapes[i % len(shapes)]
        entries.append(
            FlareRequestEntry(
                timestamp=now - timedelta(minutes=5 * (count - i)),
                method=method,
                path=path.replace("{n}", str(100 + i)),
                route=route,
                status=status,
                duration_ms=duration,
                request_id=f"7c2a{i:04d}-1d3e-4b5f-9a8b-{i:012d}",
                ip_address=IPS[i % len(IPS)],
                user_agent=AGENTS[i % len(AGENTS)],
                headers={
                    "accept": "application/json",
                    "authorization": "[redacted]",
                    "user-agent": AGENTS[i % len(AGENTS)],
                    "x-forwarded-proto": "https",
                },
            )
        )
    return entries


def seed_demo(live: LiveServer) -> None:
    """Write 60 demo entries and 40 tracked requests, the newest a few minutes old."""
    now = datetime.now(UTC)
    live.add_logs(demo_logs(now))
    live.add_requests(demo_requests(now))
