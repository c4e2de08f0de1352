"""The demo app on PostgreSQL: same routes as examples/example.py, errors stored in a table.

Run (the DSN comes from the environment; URL-encode special characters in the
password, e.g. ``@`` as ``%40``):

    FLARE_PG_DSN=postgresql://user:pass%40word@localhost:5432/mydb \\
        uvicorn examples.example_postgres:app --port 8000

Dashboard at http://localhost:8000/flare. The table ``flare_logs`` (and
``flare_logs_requests``) is created on first connection; set
``FLARE_PG_TABLE_NAME=flare_logs_checkout`` to give this app its own table when
several projects share one database. If the database is down at start, the app
still serves requests and Flare connects as soon as it can.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, HTTPException

from fastapi_flare import FlareConfig, setup

DSN = os.environ.get("FLARE_PG_DSN", "")
if not DSN:
    raise SystemExit(
        "Set FLARE_PG_DSN, e.g. FLARE_PG_DSN=postgresql://user:pass@localhost:5432/mydb"
    )

app = FastAPI(title="fastapi-flare demo (PostgreSQL)")


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


# Other FLARE_* variables (FLARE_PG_TABLE_NAME, FLARE_RETENTION_HOURS, ...) apply too.
setup(app, config=FlareConfig(storage_backend="postgresql", pg_dsn=DSN))
