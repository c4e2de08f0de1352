"""The one FastAPI app every overhead configuration serves, built from ``BENCH_*`` env vars.

``uvicorn --factory benchmarks.apps.overhead_app:create_app`` with

- ``BENCH_MODE``: ``bare`` (no tracker), ``flare`` (``setup(app, FlareConfig(...))``)
  or ``sentry`` (sentry-sdk, tracing off, DSN from ``BENCH_SENTRY_DSN``);
- ``BENCH_FLARE_CONFIG``: JSON object of ``FlareConfig`` fields for ``flare`` mode.

The routes are identical in every mode; ``/_bench/stats`` reports how many requests
each route handled and the Flare queue counters, so stored rows can be compared with
what the app actually saw.
"""

from __future__ import annotations

import json
import os
from typing import Any

from fastapi import FastAPI, HTTPException

OK_PATH = "/ok"
MISSING_PATH = "/missing"
BOOM_PATH = "/boom"
STATS_PATH = "/_bench/stats"
ROUTES = {"200": OK_PATH, "404": MISSING_PATH, "500": BOOM_PATH}


def build_app(
    mode: str = "bare",
    flare_config: dict[str, Any] | None = None,
    sentry_dsn: str | None = None,
) -> FastAPI:
    """The benchmark app in one of the three modes."""
    if mode == "sentry":
        import sentry_sdk

        # No traces_sample_rate: error reporting only, as most teams run it.
        sentry_sdk.init(dsn=sentry_dsn, send_default_pii=False)
    handled = {OK_PATH: 0, MISSING_PATH: 0, BOOM_PATH: 0}
    app = FastAPI()

    @app.get(OK_PATH)
    async def ok() -> dict[str, bool]:
        handled[OK_PATH] += 1
        return {"ok": True}

    @app.get(MISSING_PATH)
    async def missing() -> dict[str, bool]:
        handled[MISSING_PATH] += 1
        raise HTTPException(status_code=404, detail="no such item")

    @app.get(BOOM_PATH)
    async def boom() -> dict[str, bool]:
        handled[BOOM_PATH] += 1
        raise RuntimeError("boom: the benchmark route failed")

    @app.get(STATS_PATH)
    async def stats() -> dict[str, Any]:
        runtime = getattr(app.state, "flare", None)
        queue = None
        if runtime is not None:
            q = runtime.queue
            queue = {
                "accepted": q.accepted,
                "dropped": q.dropped,
                "written": q.written,
                "lost": q.lost,
                "depth": q.depth,
                "capacity": q.capacity,
            }
        return {"mode": mode, "handled": handled, "queue": queue}

    if mode == "flare":
        from fastapi_flare import FlareConfig, setup

        setup(app, FlareConfig(**(flare_config or {})))
    elif mode not in ("bare", "sentry"):
        raise ValueError(f"unknown BENCH_MODE {mode!r}")
    return app


def create_app() -> FastAPI:
    """Factory for uvicorn: the app described by the ``BENCH_*`` environment."""
    raw = os.environ.get("BENCH_FLARE_CONFIG")
    return build_app(
        mode=os.environ.get("BENCH_MODE", "bare"),
        flare_config=json.loads(raw) if raw else None,
        sentry_dsn=os.environ.get("BENCH_SENTRY_DSN"),
    )
