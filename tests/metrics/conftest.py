"""Metrics fixtures: storages with the metrics table (SQLite file, PostgreSQL table), seeding."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from fastapi_flare.metrics.aggregator import MetricsAggregator
from fastapi_flare.metrics.model import HOUR, Batch
from fastapi_flare.metrics.store import MetricsStore, metrics_extension, store_for
from tests.conftest import PG_DSN, unavailable

# A fixed hour boundary in the past: rows seeded here never collide with "now".
T0 = 1_900_000_000 - 1_900_000_000 % HOUR

StorageFactory = Callable[[], Any]


class Clock:
    """A settable wall clock (seconds since the epoch)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def batch_of(agg: MetricsAggregator) -> Batch:
    """Everything an aggregator would flush now, marked as written."""
    batch = agg.collect()
    assert batch is not None, "nothing was counted"
    agg.written(batch)
    return batch


def record_all(
    agg: MetricsAggregator, clock: Clock, at: float, requests: Iterable[tuple[Any, ...]]
) -> None:
    """Record ``(route, method, status, seconds)`` tuples at time ``at``."""
    clock.now = at
    for route, method, status, seconds in requests:
        agg.record(route, method, status, seconds)


async def drop_pg_tables(prefix: str) -> None:
    """Remove every table whose name starts with ``prefix`` (unique per test)."""
    import asyncpg

    conn = await asyncpg.connect(PG_DSN)
    try:
        names = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND starts_with(tablename, $1)",
            prefix,
        )
        for row in names:
            await conn.execute(f'DROP TABLE IF EXISTS "{row[0]}" CASCADE')
    finally:
        await conn.close()


async def pg_reachable() -> bool:
    """True when the test server answers."""
    import asyncpg

    try:
        conn = await asyncpg.connect(PG_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


class Backend:
    """Makes storages of one backend that share one file or one table (like processes)."""

    def __init__(self, name: str, tmp_path: Path) -> None:
        self.name = name
        self.path = str(tmp_path / "flare.db")
        self.table = "flare_m_" + uuid.uuid4().hex[:10]
        self.opened: list[Any] = []

    def storage(self, *, retention_days: int = 30, clock: Callable[[], float] | None = None) -> Any:
        """A new, unopened storage with the metrics extension registered."""
        if self.name == "postgresql":
            from fastapi_flare.storage.postgres import PostgresStorage

            storage: Any = PostgresStorage(PG_DSN, table_name=self.table, background_indexing=False)
        else:
            from fastapi_flare.storage.sqlite import SqliteStorage

            storage = SqliteStorage(self.path, background_indexing=False)
        options: dict[str, Any] = {} if clock is None else {"clock": clock}
        storage.add_extension(metrics_extension(retention_days, **options))
        return storage

    async def open(self, **kwargs: Any) -> tuple[Any, MetricsStore]:
        """An opened storage and its metrics store."""
        storage = self.storage(**kwargs)
        await storage.open()
        self.opened.append(storage)
        return storage, store_for(storage)

    async def cleanup(self) -> None:
        """Close every storage; drop the PostgreSQL tables."""
        for storage in self.opened:
            await storage.close()
        if self.name == "postgresql":
            # Long names are shortened with a hash, but keep their first characters.
            await drop_pg_tables(self.table[:18])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each test runs on a fresh SQLite file and on a fresh PostgreSQL table."""
    if request.param == "postgresql" and not await pg_reachable():
        unavailable(f"PostgreSQL is not reachable at {PG_DSN}")
    made = Backend(request.param, tmp_path)
    try:
        yield made
    finally:
        await made.cleanup()
