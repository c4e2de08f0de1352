"""PostgreSQL search and planning, on the real server: trigram index, fallbacks, statistics."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from fastapi_flare.schema import LogQuery
from fastapi_flare.storage.postgres import PostgresStorage
from tests.conftest import PG_DSN
from tests.storage.conftest import Backend
from tests.storage.entries import all_messages, log, request

pytestmark = pytest.mark.postgres


async def test_without_trigram_index_search_is_an_ilike_scan(pg_backend: Backend) -> None:
    storage = await pg_backend.open(search_index=False)
    await storage.save_logs([log("100% done"), log("snake_case"), log("percent")])
    assert await all_messages(storage, search="0% D") == ["100% done"]
    assert await all_messages(storage, search="e_c") == ["snake_case"]
    assert (await storage.overview()).details["search_index"] == "none (ILIKE scan)"


@pytest.mark.parametrize("window", [1, 7, 10_000])
async def test_search_beyond_the_recent_window_uses_the_index(
    pg_backend: Backend, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    from fastapi_flare.storage import postgres_search

    monkeypatch.setattr(postgres_search, "WINDOW", window)
    storage = await pg_backend.open()
    batch = [
        log(
            f"row {i:03d}" + (" needle" if i % 7 == 0 else ""),
            level="ERROR" if i % 2 else "WARNING",
        )
        for i in range(120)
    ]
    await storage.save_logs(batch)
    await storage.build_search_index()
    await storage.save_logs([log("row 120 needle", level="ERROR")])  # unindexed tail
    older = [i for i in range(119, -1, -1) if i % 7 == 0]
    needles = ["row 120 needle", *(f"row {i:03d} needle" for i in older)]
    errors = ["row 120 needle", *(f"row {i:03d} needle" for i in older if i % 2)]

    async def walk(**filters: Any) -> list[str]:
        pages = [await storage.list_logs(LogQuery(limit=4, **filters))]
        while pages[-1].older_cursor is not None:
            query = LogQuery(limit=4, before_id=pages[-1].older_cursor, **filters)
            pages.append(await storage.list_logs(query))
        back = await storage.list_logs(
            LogQuery(limit=4, after_id=pages[-1].newer_cursor, **filters)
        )
        assert back.items == pages[-2].items  # and back again, to newer rows
        return [e.message for page in pages for e in page.items]

    assert await walk(search="NEEDLE") == needles
    assert await walk(search="needle", level="ERROR") == errors


async def test_missing_planner_statistics_are_refreshed(pg_backend: Backend) -> None:
    storage = await pg_backend.open()
    await storage.save_logs([log(f"m{i}") for i in range(50)])
    await storage.save_requests([request(f"/r/{i}") for i in range(20)])
    await storage.build_search_index()  # refreshes statistics at the end

    async def analysed() -> set[str]:
        rows = await storage.fetch_all(
            "SELECT relname FROM pg_stat_user_tables WHERE starts_with(relname, $1) "
            "AND coalesce(last_analyze, last_autoanalyze) IS NOT NULL",
            (pg_backend.table,),
        )
        return {str(row[0]) for row in rows}

    table = pg_backend.table
    expected = {table, f"{table}_requests", f"{table}_search", f"{table}_requests_search"}
    assert expected <= await analysed()
    assert await storage.refresh_statistics() == []  # nothing changed since


@pytest.fixture
async def fresh_database(admin: asyncpg.Connection) -> AsyncIterator[str]:
    """A brand-new database (no extensions yet); dropped afterwards."""
    name = "flare_db_" + uuid.uuid4().hex[:10]
    await admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def dsn_for(database: str, user: str = "root") -> str:
    return PG_DSN.rsplit("/", 1)[0].replace("root@", f"{user}@") + f"/{database}"


async def test_fresh_database_gets_pg_trgm_created(fresh_database: str) -> None:
    storage = PostgresStorage(dsn_for(fresh_database), background_indexing=False)
    try:
        await storage.open()
        await storage.save_logs([log("fresh and searchable")])
        await storage.build_search_index()
        assert await all_messages(storage, search="and search") == ["fresh and searchable"]
        assert (await storage.overview()).details["search_index"].startswith("pg_trgm")
        rows = await storage.fetch_all("SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'")
        assert rows == [("pg_trgm",)]
    finally:
        await storage.close()


async def test_without_the_right_to_create_extensions_search_still_works(
    fresh_database: str, admin: asyncpg.Connection
) -> None:
    role = "flare_noext_" + uuid.uuid4().hex[:8]
    await admin.execute(f"CREATE ROLE {role} LOGIN")
    owner = await asyncpg.connect(dsn_for(fresh_database))
    try:
        await owner.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {role}")
        storage = PostgresStorage(dsn_for(fresh_database, role), background_indexing=False)
        try:
            await storage.open()
            await storage.save_logs([log("100% plain"), log("other")])
            assert await all_messages(storage, search="0% p") == ["100% plain"]
            assert (await storage.overview()).details["search_index"] == "none (ILIKE scan)"
        finally:
            await storage.close()
        await owner.execute("DROP TABLE IF EXISTS flare_logs, flare_logs_requests CASCADE")
        await owner.execute("DROP TABLE IF EXISTS flare_logs_counts, flare_logs_meta CASCADE")
        await owner.execute(f"REVOKE ALL ON SCHEMA public FROM {role}")
    finally:
        await owner.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{fresh_database}" WITH (FORCE)')
        await admin.execute(f"DROP ROLE {role}")
