"""Count what a Flare SQLite file holds, per path, straight from the file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fastapi_flare.storage.sqlite_schema import LOGS, REQUESTS

# (table, column that holds the raw request path)
COUNTED = {"logs": (LOGS, "endpoint"), "requests": (REQUESTS, "path")}


def count_stored(db_path: Path) -> dict[str, dict[str, int]]:
    """``{"logs": {path: rows}, "requests": {path: rows}}`` for a closed Flare database."""
    result: dict[str, dict[str, int]] = {"logs": {}, "requests": {}}
    if not db_path.exists():
        return result
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        for kind, (table, column) in COUNTED.items():
            query = f'SELECT "{column}", COUNT(*) FROM "{table}" GROUP BY "{column}"'
            result[kind] = {str(key): int(count) for key, count in conn.execute(query)}
    finally:
        conn.close()
    return result
