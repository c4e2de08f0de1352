"""The app the process tests serve with a real ``uvicorn``; configured by environment.

Flare reads every ``FLARE_*`` variable itself. ``RELIABILITY_SAVE_DELAY`` (seconds)
slows each ``save_logs`` call so entries are still pending when the server is
told to stop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

from fastapi import FastAPI, HTTPException

from fastapi_flare import setup
from fastapi_flare.schema import FlareLogEntry

app = FastAPI()


@app.get("/ok")
async def ok() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/boom")
async def boom() -> None:
    raise RuntimeError("kaboom")


@app.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, int]:
    if item_id == 999:
        raise HTTPException(status_code=404, detail="Item not found")
    return {"item_id": item_id}


@app.get("/queue")
async def queue_state() -> dict[str, int]:
    """This process's queue counters (the tests read them before killing it)."""
    queue = runtime.queue
    return {
        "pid": os.getpid(),
        "depth": queue.depth,
        "accepted": queue.accepted,
        "written": queue.written,
        "dropped": queue.dropped,
    }


runtime = setup(app)
_delay = float(os.environ.get("RELIABILITY_SAVE_DELAY", "0") or 0)
if _delay > 0:
    _save_logs = runtime.storage.save_logs

    async def _slow_save_logs(entries: Sequence[FlareLogEntry]) -> None:
        await asyncio.sleep(_delay)
        await _save_logs(entries)

    runtime.storage.save_logs = _slow_save_logs  # type: ignore[method-assign]
