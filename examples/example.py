"""The demo app: a few routes that succeed and fail, with the dashboard at /flare.

Run: make demo  (or: uvicorn examples.example:app --port 8000)
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException

from fastapi_flare import setup

app = FastAPI(title="fastapi-flare demo")


@app.get("/")
async def root() -> dict[str, str]:
    """Returns 200 OK."""
    return {"status": "ok", "dashboard": "/flare"}


@app.get("/boom")
async def boom() -> None:
    """Raises RuntimeError: captured as ERROR."""
    raise RuntimeError("Something exploded in /boom")


@app.get("/items/{item_id}")
async def get_item(item_id: int) -> dict[str, int]:
    """Item 999 does not exist: HTTPException 404, captured as WARNING."""
    if item_id == 999:
        raise HTTPException(status_code=404, detail=f"Item {item_id} not found")
    return {"item_id": item_id}


# Zero-config: SQLite file flare.db in the working directory (FLARE_* env vars apply).
setup(app)
