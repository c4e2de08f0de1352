"""PostgreSQL batches are written exactly once, even when a COMMIT answer is lost.

The failures are real: the storage's session is terminated from another
connection while it is busy just before or just after its real COMMIT. To
hold the session at that moment, the test appends a ``pg_sleep`` to the
storage's own COMMIT round trip (the server runs the COMMIT itself unchanged).
One test terminates the session from asyncpg's pool reset hook, after the
COMMIT answered.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from fastapi_flare.schema import StorageError
from fastapi_flare.storage.postgres import PostgresStorage
from fastapi_flare.storage.postgres_db import CommitUncertain
from tests.conftest import PG_DSN
from tests.helpers import wait_until
from tests.storage.conftest import Backend
from tests.storage.entries import NOW, log, numbered, request

pytestmark = pytest.mark.postgres

N = 25
SLEEP = "SELECT pg_sleep(60)"


class CommitTap:
    """Adds SQL around the COMMIT of the storage's write round trip."""

    def __init__(self, storage: PostgresStorage, monkeypatch: pytest.MonkeyPatch) -> None:
        self.before = self.after = ""
        original = storage._db.connection

        @asynccontextmanager
        async def connection() -> AsyncIterator[Any]:
            async with original() as conn:
                yield _Tapped(conn, self)

        monkeypatch.setattr(storage._db, "connection", connection)

    def reshape(self, sql: str) -> str:
        """``sql`` with the extra statements, when it is the COMMIT round trip."""
        if not sql.endswith("COMMIT"):
            return sql
        return sql.removesuffix("COMMIT") + self.before + "COMMIT" + self.after


class _Tapped:
    """A pooled connection whose ``execute`` goes through the tap."""

    def __init__(self, conn: asyncpg.Connection, tap: CommitTap) -> None:
        self._conn = conn
        self._tap = tap

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def execute(self, sql: str, *args: Any, **kwargs: Any) -> str:
        return str(await self._conn.execute(self._tap.reshape(sql), *args, **kwargs))


Save = Callable[[Sequence[Any]], Coroutine[Any, Any, None]]


def saver(storage: PostgresStorage, kind: str) -> tuple[Save, list[Any], str]:
    """(save method, N fresh entries, table suffix) for ``logs`` or ``requests``."""
    if kind == "logs":
        return storage.save_logs, numbered(N), ""
    return storage.save_requests, [request(f"/r/{i}") for i in range(N)], "_requests"


async def count(admin: asyncpg.Connection, table: str) -> int:
    return int(await admin.fetchval(f'SELECT count(*) FROM "{table}"'))


async def kill_when_waiting(admin: asyncpg.Connection, app_name: str, event: str) -> None:
    """Terminate the storage's session once it waits on ``event`` (PgSleep, relation)."""

    async def waiting() -> bool:
        rows = await admin.fetch(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 "
            "AND state = 'active' AND wait_event = $2",
            app_name,
            event,
        )
        return bool(rows)

    await wait_until(waiting, timeout=10)
    await admin.execute(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = $1",
        app_name,
    )


async def lose_commit_answer(
    tap: CommitTap,
    admin: asyncpg.Connection,
    app_name: str,
    save: Coroutine[Any, Any, None],
    *,
    committed: bool,
) -> None:
    """Run ``save`` and kill its session just after (or just before) its real COMMIT."""
    if committed:
        tap.after = f"; {SLEEP}"
    else:
        tap.before = f"{SLEEP}; "
    task = asyncio.create_task(save)
    await kill_when_waiting(admin, app_name, "PgSleep")
    with pytest.raises(CommitUncertain, match=r"^PostgreSQL: "):
        await task
    tap.before = tap.after = ""


@pytest.mark.parametrize("kind", ["logs", "requests"])
async def test_batch_whose_commit_answer_was_lost_is_not_written_twice(
    pg_backend: Backend, admin: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    app_name = "flare-once-" + uuid.uuid4().hex[:8]
    storage = await pg_backend.open(application_name=app_name)
    tap = CommitTap(storage, monkeypatch)
    save, entries, suffix = saver(storage, kind)
    table = pg_backend.table + suffix

    await lose_commit_answer(tap, admin, app_name, save(entries), committed=True)
    assert await count(admin, table) == N  # the server did commit
    assert storage._db.last_write_error is not None

    # The writer retries with the same entry objects (in a new list).
    await save(list(entries))
    assert await count(admin, table) == N
    assert await admin.fetchval(f'SELECT sum(n) FROM "{pg_backend.table}_counts"') == N
    assert await count(admin, f"{pg_backend.table}_batches") == 1
    assert storage._db.last_write_error is None
    # Later batches are written as usual, the same objects too once done.
    await save(list(entries))
    assert await count(admin, table) == 2 * N


async def test_lost_commit_answer_without_a_commit_is_written_on_retry(
    pg_backend: Backend, admin: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_name = "flare-once-" + uuid.uuid4().hex[:8]
    storage = await pg_backend.open(application_name=app_name)
    tap = CommitTap(storage, monkeypatch)
    entries = numbered(N)

    await lose_commit_answer(tap, admin, app_name, storage.save_logs(entries), committed=False)
    assert await count(admin, pg_backend.table) == 0  # killed before COMMIT ran
    await storage.save_logs(list(entries))
    assert await count(admin, pg_backend.table) == N
    assert (await storage.stats(NOW)).total == N


async def test_failed_check_keeps_the_batch_pending(
    pg_backend: Backend, admin: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_name = "flare-once-" + uuid.uuid4().hex[:8]
    storage = await pg_backend.open(application_name=app_name)
    tap = CommitTap(storage, monkeypatch)
    entries = numbered(N)
    await lose_commit_answer(tap, admin, app_name, storage.save_logs(entries), committed=True)
    # The retry's check waits for the key table; its session is killed there.
    # (Another connection holds the lock: pg_stat_activity is a snapshot per transaction.)
    locker = await asyncpg.connect(PG_DSN)
    try:
        async with locker.transaction():
            await locker.execute(
                f'LOCK TABLE "{pg_backend.table}_batches" IN ACCESS EXCLUSIVE MODE'
            )
            retry = asyncio.create_task(storage.save_logs(entries))
            await kill_when_waiting(admin, app_name, "relation")
            with pytest.raises(StorageError) as caught:
                await retry
    finally:
        await locker.close()
    assert not isinstance(caught.value, CommitUncertain)
    await storage.save_logs(entries)
    assert await count(admin, pg_backend.table) == N


async def test_failure_before_commit_is_rewritten_normally(
    pg_backend: Backend, admin: asyncpg.Connection
) -> None:
    storage = await pg_backend.open(command_timeout=1.0)
    entries = numbered(N)
    async with admin.transaction():
        await admin.execute(f'LOCK TABLE "{pg_backend.table}" IN ACCESS EXCLUSIVE MODE')
        with pytest.raises(StorageError, match="timed out") as caught:
            await storage.save_logs(entries)  # COPY waits for the lock: no COMMIT sent
    assert not isinstance(caught.value, CommitUncertain)
    await storage.save_logs(entries)
    assert await count(admin, pg_backend.table) == N


async def test_connection_lost_after_the_commit_answer_is_a_success(
    pg_backend: Backend, admin: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = await pg_backend.open()
    assert storage._db.pool is not None

    async def reset_on_a_dead_session(conn: asyncpg.Connection) -> None:
        await admin.execute("SELECT pg_terminate_backend($1, 5000)", conn.get_server_pid())
        await conn.execute("SELECT 1")  # fails for real: the session is gone

    # asyncpg calls the pool's reset hook when the connection goes back to the
    # pool, after the COMMIT answered; a failure there used to fail the write.
    monkeypatch.setattr(storage._db.pool, "_reset", reset_on_a_dead_session)
    entries = numbered(N)
    await storage.save_logs(entries)
    monkeypatch.undo()
    assert storage._db.last_write_error is None
    await storage.save_logs([log("next")])
    assert await count(admin, pg_backend.table) == N + 1


async def test_old_batch_keys_are_pruned_but_not_one_awaiting_its_retry(
    pg_backend: Backend, admin: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_name = "flare-once-" + uuid.uuid4().hex[:8]
    storage = await pg_backend.open(application_name=app_name)
    batches = f'"{pg_backend.table}_batches"'
    await storage.save_logs([log("old")])
    tap = CommitTap(storage, monkeypatch)
    entries = numbered(N)
    await lose_commit_answer(tap, admin, app_name, storage.save_logs(entries), committed=True)
    await admin.execute(f"UPDATE {batches} SET at = now() - interval '2 hours'")
    await storage.save_logs([log("new")])
    assert await count(admin, f"{pg_backend.table}_batches") == 3

    await storage.prune(older_than=entries[0].timestamp, max_entries=1000, max_requests=1000)
    assert await count(admin, f"{pg_backend.table}_batches") == 2  # "old" went
    await storage.save_logs(entries)  # the retry still finds its key
    assert await count(admin, pg_backend.table) == N + 2
    await admin.execute(f"UPDATE {batches} SET at = now() - interval '2 hours'")
    await storage.prune(older_than=entries[0].timestamp, max_entries=1000, max_requests=1000)
    assert await count(admin, f"{pg_backend.table}_batches") == 0


async def test_batch_table_creation_is_idempotent(
    pg_backend: Backend, admin: asyncpg.Connection
) -> None:
    first, second = pg_backend.make(), pg_backend.make()
    await asyncio.gather(first.open(), second.open())
    await asyncio.gather(first.save_logs([log("a")]), second.save_requests([request()]))
    await first.close()
    await first.open()
    await first.save_logs([log("b")])
    assert await count(admin, f"{pg_backend.table}_batches") == 3
    # A table set made before batch keys existed gets the new table on open.
    await admin.execute(f'DROP TABLE "{pg_backend.table}_batches"')
    third = await pg_backend.open()
    await third.save_logs([log("c")])
    assert await count(admin, f"{pg_backend.table}_batches") == 1
