"""Both backends for the grouping tests: a SQLite file in tmp_path or fresh PostgreSQL tables."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from fastapi_flare.grouping import install_grouping, issue_store
from fastapi_flare.grouping.store import IssueStore
from fastapi_flare.schema import FlareLogEntry
from fastapi_flare.storage.base import Storage
from fastapi_flare.storage.postgres import PostgresStorage
from fastapi_flare.storage.sqlite import SqliteStorage
from tests.conftest import PG_DSN, unavailable

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
BACKENDS = [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres)]


async def drop_pg_tables(base: str) -> None:
    """Drop every table and function whose name starts with ``base``."""
    conn = await asyncpg.connect(PG_DSN, timeout=5)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename LIKE $1",
            base + "%",
        )
        for row in tables:
            await conn.execute(f'DROP TABLE IF EXISTS "{row[0]}" CASCADE')
        functions = await conn.fetch(
            "SELECT proname FROM pg_proc WHERE proname LIKE $1", base + "%"
        )
        for row in functions:
            await conn.execute(f'DROP FUNCTION IF EXISTS "{row[0]}"() CASCADE')
    finally:
        await conn.close()


async def pg_reachable() -> bool:
    """True when the test PostgreSQL server answers."""
    try:
        conn = await asyncpg.connect(PG_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


@dataclass
class Backend:
    """How to build storages (and app configs) that share one database."""

    kind: str
    sqlite_path: str
    pg_table: str

    def storage(self, *, grouping: bool = True) -> Storage:
        """A new, unopened storage on the shared database (issue tables registered)."""
        if self.kind == "postgresql":
            storage: Storage = PostgresStorage(PG_DSN, table_name=self.pg_table)
        else:
            storage = SqliteStorage(self.sqlite_path)
        if grouping:
            install_grouping(storage)
        return storage

    def config(self, **options: Any) -> dict[str, Any]:
        """FlareConfig options pointing at the shared database."""
        if self.kind == "postgresql":
            options.update(storage_backend="postgresql", pg_dsn=PG_DSN, pg_table_name=self.pg_table)
        else:
            options.setdefault("sqlite_path", self.sqlite_path)
        return options


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """One of the two backends, on a fresh database; PostgreSQL tables dropped afterwards."""
    kind = str(request.param)
    table = f"gt_{secrets.token_hex(4)}"
    if kind == "postgresql" and not await pg_reachable():
        unavailable(f"PostgreSQL is not reachable at {PG_DSN}")
    yield Backend(kind, str(tmp_path / "flare.db"), table)
    if kind == "postgresql":
        await drop_pg_tables(table)


@pytest.fixture
async def pg_backend(tmp_path: Path) -> AsyncIterator[Backend]:
    """The PostgreSQL backend alone, for PostgreSQL-only behaviour."""
    if not await pg_reachable():
        unavailable(f"PostgreSQL is not reachable at {PG_DSN}")
    table = f"gt_{secrets.token_hex(4)}"
    yield Backend("postgresql", str(tmp_path / "unused.db"), table)
    await drop_pg_tables(table)


@dataclass
class Opened:
    """An open storage with its issue store."""

    storage: Storage
    issues: IssueStore


@pytest.fixture
async def opened(backend: Backend) -> AsyncIterator[Opened]:
    """An open storage of ``backend`` with the issue tables."""
    storage = backend.storage()
    await storage.open()
    store = issue_store(storage)
    assert store is not None
    try:
        yield Opened(storage, store)
    finally:
        await storage.close()


def entry(i: int, fingerprint: str | None = "fp-a", **fields: Any) -> FlareLogEntry:
    """Entry ``i`` (``i`` minutes after T0) of issue ``fingerprint``."""
    values: dict[str, Any] = {
        "timestamp": T0 + timedelta(minutes=i),
        "level": "ERROR",
        "event": "custom",
        "message": f"failure {i}",
        "ip_address": "10.0.0.1",
        "fingerprint": fingerprint,
    }
    values.update(fields)
    return FlareLogEntry(**values)
