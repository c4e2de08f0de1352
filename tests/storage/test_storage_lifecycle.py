"""Storage contract, part 3: open/close, several instances, extensions, background indexing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from fastapi_flare.schema import FlareLogEntry, LogQuery, PruneResult, StorageError
from fastapi_flare.storage.base import Storage
from fastapi_flare.storage.extensions import (
    PgNames,
    PruneContext,
    SavedLog,
    StorageExtension,
    WriteTx,
)
from tests.helpers import wait_until
from tests.storage.entries import NOW, all_messages, ids_of, log, request


async def test_backends_satisfy_the_protocol(storage: Any) -> None:
    assert isinstance(storage, Storage)


async def test_two_instances_opening_at_once_share_the_data(backend: Any) -> None:
    first, second = backend.make(), backend.make()
    await asyncio.gather(first.open(), second.open())
    await asyncio.gather(
        first.save_logs([log("from first")]), second.save_logs([log("from second")])
    )
    assert sorted(await all_messages(first)) == ["from first", "from second"]
    assert sorted(await all_messages(second)) == ["from first", "from second"]
    assert (await first.stats(NOW)).total == 2


async def test_open_is_idempotent_and_close_is_safe_twice(backend: Any) -> None:
    storage = await backend.open()
    await storage.open()
    await storage.save_logs([log("kept")])
    await storage.close()
    await storage.close()
    with pytest.raises(StorageError, match="not open"):
        await storage.list_logs(LogQuery())
    with pytest.raises(StorageError, match="not open"):
        await storage.save_logs([log("lost")])
    info = await storage.overview()
    assert info.connected is False and info.error == "storage is not open"
    await storage.open()  # reopening after close works
    assert await all_messages(storage) == ["kept"]


async def test_close_without_open(backend: Any) -> None:
    storage = backend.make()
    await storage.close()
    assert (await storage.overview()).connected is False


async def test_empty_batches_are_accepted(storage: Any) -> None:
    await storage.save_logs([])
    await storage.save_requests([])
    assert (await storage.overview()).log_count == 0


async def test_background_indexer_catches_up(backend: Any) -> None:
    storage = await backend.open(background_indexing=True)
    for start in range(0, 3000, 500):
        await storage.save_logs([log(f"row {i} haystack") for i in range(start, start + 500)])
    await storage.save_requests([request(f"/bg/{i}") for i in range(50)])

    async def caught_up() -> bool:
        info = await storage.overview()
        return bool(info.details["search_index"].endswith(" 0 rows pending"))

    await wait_until(caught_up, timeout=60)
    found = await ids_of(storage, search="row 2999 hay")
    assert len(found) == 1
    assert len((await storage.list_logs(LogQuery(search="haystack", limit=500))).items) == 500


def hooked_extension(seen: list[list[int]]) -> StorageExtension:
    """A feature table filled by a save hook and trimmed by a prune hook."""

    def pg_ddl(names: PgNames) -> Sequence[str]:
        return [f"CREATE TABLE IF NOT EXISTS {names.table('hooked')} (log_id bigint, msg text)"]

    async def on_saved(tx: WriteTx, saved: Sequence[SavedLog]) -> None:
        seen.append([s.id for s in saved])
        values = "(?, ?)" if tx.dialect == "sqlite" else "($1, $2)"
        await tx.executemany(
            f"INSERT INTO {tx.table('hooked')} (log_id, msg) VALUES {values}",
            [(s.id, s.entry.message) for s in saved],
        )

    async def on_prune(tx: WriteTx, ctx: PruneContext) -> PruneResult:
        rows = await tx.fetch_all(
            f"DELETE FROM {tx.table('hooked')} WHERE log_id NOT IN "
            f"(SELECT id FROM {tx.logs_table}) "
            "RETURNING log_id"
        )
        return PruneResult(metrics=len(rows))

    return StorageExtension(
        name="hooked",
        sqlite_ddl=('CREATE TABLE IF NOT EXISTS "flare_hooked" (log_id INTEGER, msg TEXT)',),
        postgres_ddl=pg_ddl,
        on_logs_saved=on_saved,
        on_prune=on_prune,
    )


async def test_extension_tables_and_hooks(backend: Any) -> None:
    seen: list[list[int]] = []
    storage = backend.make()
    storage.add_extension(hooked_extension(seen))
    await storage.open()
    await storage.save_logs([log(f"m{i}") for i in range(5)])
    await storage.save_logs([log(f"m{i}") for i in range(5, 8)])
    stored = list(reversed(await ids_of(storage)))
    assert seen == [stored[:5], stored[5:]]
    async with storage.write_transaction() as tx:
        table = tx.table("hooked")
    rows = await storage.fetch_all(f"SELECT log_id, msg FROM {table} ORDER BY log_id")
    assert rows == [(stored[i], f"m{i}") for i in range(8)]

    result = await storage.prune(older_than=NOW - timedelta(days=1), max_entries=3, max_requests=9)
    assert (result.logs, result.metrics) == (5, 5)
    rows = await storage.fetch_all(f"SELECT log_id FROM {table} ORDER BY log_id")
    assert [row[0] for row in rows] == stored[5:]


async def test_failed_write_rolls_back_and_shows_until_a_write_succeeds(backend: Any) -> None:
    calls = {"n": 0}

    async def refuses_once(tx: WriteTx, saved: Sequence[SavedLog]) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise StorageError("hook refused")

    storage = backend.make()
    storage.add_extension(StorageExtension(name="refuses", on_logs_saved=refuses_once))
    await storage.open()
    with pytest.raises(StorageError, match="hook refused"):
        await storage.save_logs([log("never stored")])
    assert await all_messages(storage) == []
    assert (await storage.stats(NOW)).total == 0
    info = await storage.overview()
    assert info.connected and info.error == "Writes failing: hook refused"
    await storage.save_logs([log("stored")])
    assert await all_messages(storage) == ["stored"]
    assert (await storage.overview()).error is None


async def test_driver_errors_become_storage_errors(storage: Any) -> None:
    with pytest.raises(StorageError):
        await storage.fetch_all("SELECT no_such_column FROM no_such_table")
    with pytest.raises(StorageError):
        async with storage.write_transaction() as tx:
            await tx.execute("INSERT INTO no_such_table VALUES (1)")
    await storage.save_logs([log("still works")])
    assert await all_messages(storage) == ["still works"]


async def test_entries_with_unexpected_levels_are_kept(storage: Any) -> None:
    odd = FlareLogEntry.model_construct(**{**log("odd").model_dump(), "level": "INFO"})
    await storage.save_logs([odd, log("normal")])
    assert await all_messages(storage) == ["normal", "odd"]
    assert (await storage.stats(NOW)).total == 1  # the cards count ERROR and WARNING
    assert (await storage.overview()).log_count == 2
    result = await storage.prune(older_than=NOW - timedelta(days=1), max_entries=0, max_requests=0)
    assert result.logs == 2
    assert (await storage.overview()).log_count == 0


async def test_run_write_commits_or_rolls_back_as_one_transaction(backend: Any) -> None:
    storage = backend.make()
    storage.add_extension(hooked_extension([]))
    await storage.open()
    async with storage.write_transaction() as tx:
        table = tx.table("hooked")

    def insert(tx: WriteTx) -> str:
        values = "(?, ?)" if tx.dialect == "sqlite" else "($1, $2)"
        return f"INSERT INTO {table} (log_id, msg) VALUES {values}"

    async def insert_two(tx: WriteTx) -> int:
        await tx.executemany(insert(tx), [(1, "a"), (2, "b")])
        rows = await tx.fetch_all(f"SELECT count(*) FROM {table}")
        return int(rows[0][0])

    async def insert_then_fail(tx: WriteTx) -> None:
        await tx.execute(insert(tx), (3, "c"))
        raise StorageError("refused halfway")

    assert await storage.run_write(insert_two) == 2  # the body sees its own writes
    with pytest.raises(StorageError, match="refused halfway"):
        await storage.run_write(insert_then_fail)
    rows = await storage.fetch_all(f"SELECT log_id, msg FROM {table} ORDER BY log_id")
    assert rows == [(1, "a"), (2, "b")]
    # A failed background write shows on the panel until an entry write succeeds;
    # a background write that succeeds does not clear it.
    assert (await storage.overview()).error == "Writes failing: refused halfway"
    assert await storage.run_write(insert_two) == 4
    assert (await storage.overview()).error == "Writes failing: refused halfway"
    await storage.save_logs([log("entries still flow")])
    assert await all_messages(storage) == ["entries still flow"]
    assert (await storage.overview()).error is None
