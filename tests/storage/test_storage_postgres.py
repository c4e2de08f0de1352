"""PostgreSQL backend specifics, on the real server: projects, DSNs, outages, startup races."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import asyncpg
import pytest

from fastapi_flare.schema import LogQuery, StorageError
from fastapi_flare.storage.postgres import PostgresStorage
from tests.conftest import PG_DSN
from tests.helpers import wait_until
from tests.storage.conftest import Backend, drop_pg_tables, unique_table
from tests.storage.entries import NOW, all_messages, log, request
from tests.storage.pg_password_probe import PasswordProbe

pytestmark = pytest.mark.postgres


async def test_projects_sharing_a_database_are_isolated(pg_backend: Backend) -> None:
    checkout = await pg_backend.open()
    auth_table = unique_table()
    auth = PostgresStorage(PG_DSN, table_name=auth_table, background_indexing=False)
    try:
        await auth.open()
        await checkout.save_logs([log("checkout failed", event="payment_failed")] * 3)
        await auth.save_logs([log("login failed", level="WARNING", event="login")])
        await checkout.save_requests([request("/pay")])
        assert await all_messages(checkout) == ["checkout failed"] * 3
        assert await all_messages(auth) == ["login failed"]
        assert await all_messages(auth, search="checkout") == []
        assert await checkout.list_events() == ["payment_failed"]
        assert await auth.list_events() == ["login"]
        assert (await checkout.stats(NOW)).total == 3 and (await auth.stats(NOW)).total == 1
        assert (await auth.overview()).request_count == 0
        removed = await checkout.prune(
            older_than=NOW - timedelta(days=1), max_entries=1, max_requests=0
        )
        assert (removed.logs, removed.requests) == (2, 1)
        assert await all_messages(auth) == ["login failed"]
        [mine] = (await auth.list_logs(LogQuery())).items
        assert (await auth.get_log(mine.id or "")) == mine
    finally:
        await auth.close()
        await drop_pg_tables(auth_table)


async def test_dsn_password_is_url_decoded_before_it_is_sent() -> None:
    probe = PasswordProbe()
    await probe.start()
    try:
        dsn = f"postgresql://flare_user:p%40ss%23w%26rd@127.0.0.1:{probe.port}/test"
        storage = PostgresStorage(dsn, connect_timeout=3)
        with pytest.raises(StorageError) as caught:
            await storage.open()
        assert "probe refuses every login" in str(caught.value)
        assert "p@ss" not in str(caught.value) and "%40" not in str(caught.value)
        assert probe.logins[0] == ("flare_user", "p@ss#w&rd")
        await storage.close()
    finally:
        await probe.stop()


async def test_role_with_special_password_connects_and_is_never_shown(
    pg_backend: Backend, admin: asyncpg.Connection
) -> None:
    role = "flare_pw_" + uuid.uuid4().hex[:8]
    await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'p@ss#w&rd'")
    await admin.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {role}")
    storage = PostgresStorage(
        f"postgresql://{role}:p%40ss%23w%26rd@127.0.0.1:5432/test",
        table_name=pg_backend.table,
        background_indexing=False,
    )
    try:
        await storage.open()
        await storage.save_logs([log("as the role")])
        assert await storage.fetch_all("SELECT current_user") == [(role,)]
        info = await storage.overview()
        assert info.connected and info.log_count == 1
        assert f"{role}:***@127.0.0.1" in info.location and "ss%23" not in info.location
    finally:
        await storage.close()
        await drop_pg_tables(pg_backend.table)
        await admin.execute(f"REVOKE ALL ON SCHEMA public FROM {role}")
        await admin.execute(f"DROP ROLE {role}")


async def backends_of(admin: asyncpg.Connection, app_name: str) -> list[int]:
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1", app_name
    )
    return [row["pid"] for row in rows]


async def test_killed_connections_fail_one_call_then_recover(
    pg_backend: Backend, admin: asyncpg.Connection
) -> None:
    app_name = "flare-test-" + uuid.uuid4().hex[:8]
    storage = await pg_backend.open(application_name=app_name, pool_min_size=2)
    await storage.save_logs([log("before")])
    # Kill a connection in the middle of a query.
    running = asyncio.create_task(storage.fetch_all("SELECT pg_sleep(30)"))

    async def sleeping() -> bool:
        rows = await admin.fetch(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND query LIKE '%pg_sleep%'",
            app_name,
        )
        return bool(rows)

    await wait_until(sleeping, timeout=10)
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        app_name,
    )
    with pytest.raises(StorageError, match=r"^PostgreSQL: "):
        await running
    # Every connection of the pool is dead now; calls fail at most once each, then work.
    failures = 0
    for _ in range(5):
        try:
            await storage.save_logs([log("after")])
            break
        except StorageError:
            failures += 1
    assert failures <= 2
    assert await all_messages(storage) == ["after", "before"]
    assert len(await backends_of(admin, app_name)) >= 1
    assert (await storage.overview()).connected


async def test_unreachable_server_fails_fast() -> None:
    started = time.monotonic()
    storage = PostgresStorage("postgresql://root@127.0.0.1:1/test", connect_timeout=1)
    with pytest.raises(StorageError, match=r"^PostgreSQL: "):
        await storage.open()
    assert time.monotonic() - started < 5
    info = await storage.overview()
    assert info.connected is False and info.error == "storage is not open"
    await storage.close()


async def test_missing_database_is_a_readable_error(pg_backend: Backend) -> None:
    storage = PostgresStorage(PG_DSN.rsplit("/", 1)[0] + "/no_such_db_flare", connect_timeout=3)
    with pytest.raises(StorageError, match="no_such_db_flare"):
        await storage.open()
    await storage.close()


async def test_many_processes_starting_on_an_empty_database(pg_backend: Backend) -> None:
    storages = [pg_backend.make() for _ in range(8)]
    await asyncio.gather(*(s.open() for s in storages))
    await asyncio.gather(*(s.save_logs([log(f"from {i}")]) for i, s in enumerate(storages)))
    assert len(await all_messages(storages[0])) == 8
    assert (await storages[3].stats(NOW)).total == 8


async def test_table_names_are_validated_and_long_ones_stay_apart(pg_backend: Backend) -> None:
    with pytest.raises(ValueError, match="plain SQL identifier"):
        PostgresStorage(PG_DSN, table_name='logs"; DROP TABLE x; --')
    # 63 characters, equal but for the end: derived names must not collide
    # (the server would silently cut "<name>_requests" back to 63 characters).
    prefix = f"flare_long_{uuid.uuid4().hex[:12]}_"
    names = [prefix.ljust(60, "x") + end for end in ("aaa", "bbb")]
    first, second = (
        PostgresStorage(PG_DSN, table_name=n, background_indexing=False) for n in names
    )
    try:
        await first.open()
        await second.open()
        await first.save_logs([log("long table", context={"order_id": "o1"})])
        await first.save_requests([request()])
        await first.build_search_index()
        assert await all_messages(first, search="long tab") == ["long table"]
        assert await all_messages(second) == []
        assert (await second.overview()).request_count == 0
        rows = await first.fetch_all(f"SELECT context->>'order_id' FROM \"{names[0]}\"")
        assert rows == [("o1",)]  # a real jsonb column
    finally:
        await first.close()
        await second.close()
        await drop_pg_tables(prefix.rstrip("_"))


@pytest.mark.parametrize(("durable", "expected"), [(False, "off"), (True, "on")])
async def test_commit_durability_setting(pg_backend: Backend, durable: bool, expected: str) -> None:
    storage = await pg_backend.open(synchronous_commit=durable)
    assert await storage.fetch_all("SHOW synchronous_commit") == [(expected,)]


@pytest.mark.parametrize(
    ("dsn", "reason"),
    [
        ("not a dsn", "invalid DSN"),
        ("mysql://user@host/db", "invalid DSN"),
        ("postgresql://root@127.0.0.1:5432/test?sslmode=bogus", "sslmode"),
    ],
)
async def test_malformed_dsns_are_readable_errors(dsn: str, reason: str) -> None:
    storage = PostgresStorage(dsn, connect_timeout=2)
    with pytest.raises(StorageError, match=reason):
        await storage.open()
    await storage.close()
