"""Storage fixtures: every contract test runs on a SQLite file and on a PostgreSQL table."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_DSN, unavailable


async def pg_reachable(dsn: str = PG_DSN) -> bool:
    """True when the test server answers."""
    import asyncpg

    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def require_pg() -> None:
    """Skip (locally) or fail (CI) when PostgreSQL is not reachable."""
    if not await pg_reachable():
        unavailable(f"PostgreSQL is not reachable at {PG_DSN}")


async def drop_pg_tables(base: str) -> None:
    """Drop every table a PostgreSQL storage with table name ``base`` created."""
    import asyncpg

    conn = await asyncpg.connect(PG_DSN)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND (tablename = $1 OR starts_with(tablename, $2))",
            base,
            base + "_",
        )
        for row in rows:
            await conn.execute(f'DROP TABLE IF EXISTS "{row[0]}" CASCADE')
    finally:
        await conn.close()


def unique_table() -> str:
    """A fresh table name so tests never see each other's rows."""
    return "flare_t_" + uuid.uuid4().hex[:12]


class Backend:
    """Makes storages of one backend that share one file or one table (like processes)."""

    def __init__(self, name: str, tmp_path: Path) -> None:
        self.name = name
        self.path = str(tmp_path / "data" / "flare.db")
        self.table = unique_table()
        self.made: list[Any] = []

    def make(self, **options: Any) -> Any:
        """A new, unopened storage on this backend's file or table."""
        options.setdefault("background_indexing", False)
        if self.name == "postgresql":
            from fastapi_flare.storage.postgres import PostgresStorage

            storage: Any = PostgresStorage(PG_DSN, table_name=self.table, **options)
        else:
            from fastapi_flare.storage.sqlite import SqliteStorage

            storage = SqliteStorage(self.path, **options)
        self.made.append(storage)
        return storage

    async def open(self, **options: Any) -> Any:
        """A new, opened storage."""
        storage = self.make(**options)
        await storage.open()
        return storage

    async def cleanup(self) -> None:
        """Close every storage; drop the PostgreSQL tables."""
        for storage in self.made:
            await storage.close()
        if self.name == "postgresql":
            await drop_pg_tables(self.table)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """A fresh SQLite file, or a fresh PostgreSQL table name."""
    if request.param == "postgresql":
        await require_pg()
    made = Backend(request.param, tmp_path)
    try:
        yield made
    finally:
        await made.cleanup()


@pytest.fixture
async def storage(backend: Backend) -> Any:
    """An opened storage of the current backend (search indexing driven by the test)."""
    return await backend.open()


@pytest.fixture
async def pg_backend(tmp_path: Path) -> AsyncIterator[Backend]:
    """PostgreSQL only, for the backend's own tests."""
    await require_pg()
    made = Backend("postgresql", tmp_path)
    try:
        yield made
    finally:
        await made.cleanup()


@pytest.fixture
async def admin(pg_backend: Backend) -> AsyncIterator[Any]:
    """A separate PostgreSQL connection, to inspect or disturb what the storage does."""
    import asyncpg

    conn = await asyncpg.connect(PG_DSN)
    yield conn
    await conn.close()
