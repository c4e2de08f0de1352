"""SQLite backend specifics: files and folders, pragmas, locks, several processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from fastapi_flare.schema import LogQuery, StorageError
from fastapi_flare.storage.sqlite import SqliteStorage
from fastapi_flare.storage.sqlite_db import WAL_CHECKPOINT_PAGES
from tests.storage.entries import NOW, all_messages, log
from tests.storage.sqlite_proc import write_entries


@pytest.fixture
async def opened(tmp_path: Path) -> Any:
    made: list[SqliteStorage] = []

    async def open_storage(path: Path, **options: Any) -> SqliteStorage:
        options.setdefault("background_indexing", False)
        storage = SqliteStorage(str(path), **options)
        made.append(storage)
        await storage.open()
        return storage

    yield open_storage
    for storage in made:
        await storage.close()


async def test_creates_the_parent_folders_and_the_file(tmp_path: Path, opened: Any) -> None:
    path = tmp_path / "a" / "b" / "c" / "flare.db"
    storage = await opened(path)
    await storage.save_logs([log("hello")])
    assert path.is_file()
    assert await all_messages(storage) == ["hello"]


async def test_pragmas_wal_normal_and_busy_timeout(tmp_path: Path, opened: Any) -> None:
    storage = await opened(tmp_path / "flare.db", busy_timeout_ms=1234)
    async with storage.write_transaction() as tx:
        assert await tx.fetch_all("PRAGMA journal_mode") == [("wal",)]
        assert await tx.fetch_all("PRAGMA synchronous") == [(1,)]  # NORMAL
        assert await tx.fetch_all("PRAGMA busy_timeout") == [(1234,)]
        assert await tx.fetch_all("PRAGMA wal_autocheckpoint") == [(WAL_CHECKPOINT_PAGES,)]
    assert await storage.fetch_all("PRAGMA busy_timeout") == [(1234,)]


@pytest.mark.parametrize("kind", ["parent is a file", "path is a folder", "garbage file"])
async def test_unusable_paths_raise_storage_error(tmp_path: Path, kind: str) -> None:
    if kind == "parent is a file":
        (tmp_path / "plain.txt").write_text("x")
        path = tmp_path / "plain.txt" / "flare.db"
    elif kind == "path is a folder":
        path = tmp_path / "folder"
        path.mkdir()
    else:
        path = tmp_path / "garbage.db"
        path.write_bytes(b"this is not a database" * 100)
    storage = SqliteStorage(str(path))
    with pytest.raises(StorageError) as caught:
        await storage.open()
    message = str(caught.value)
    assert message.startswith(f"SQLite {path}: ") and "\n" not in message
    info = await storage.overview()
    assert info.connected is False and info.error
    await storage.close()


async def test_reads_do_not_wait_for_a_writer_and_locks_become_errors(
    tmp_path: Path, opened: Any
) -> None:
    path = tmp_path / "flare.db"
    storage = await opened(path, busy_timeout_ms=300)
    await storage.save_logs([log("before the lock")])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        started = time.monotonic()
        assert await all_messages(storage) == ["before the lock"]
        assert time.monotonic() - started < 0.25
        with pytest.raises(StorageError, match="locked"):
            await storage.save_logs([log("while locked")])
    finally:
        other.execute("ROLLBACK")
        other.close()
    await storage.save_logs([log("after the lock")])
    assert await all_messages(storage) == ["after the lock", "before the lock"]


async def test_several_processes_write_one_file(tmp_path: Path, opened: Any) -> None:
    path = str(tmp_path / "shared" / "flare.db")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=write_entries, args=(path, n, 30, 40)) for n in range(3)]
    for proc in procs:
        proc.start()
    while any(proc.is_alive() for proc in procs):
        await asyncio.sleep(0.05)
    assert [proc.exitcode for proc in procs] == [0, 0, 0]
    storage = await opened(Path(path))
    stats = await storage.stats(NOW)
    assert stats.total == 3 * 30 * 40
    info = await storage.overview()
    assert (info.log_count, info.request_count) == (3600, 90)
    for n in range(3):
        page = await storage.list_logs(LogQuery(search=f"p{n} b29 ", limit=100))
        assert sorted(e.message for e in page.items) == sorted(f"p{n} b29 i{i}" for i in range(40))


async def test_without_fts_search_is_a_like_scan(tmp_path: Path, opened: Any) -> None:
    storage = await opened(tmp_path / "flare.db", search_index=False)
    await storage.save_logs([log("100% done"), log("snake_case"), log("percent")])
    assert await all_messages(storage, search="0% d") == ["100% done"]
    assert await all_messages(storage, search="e_c") == ["snake_case"]
    assert (await storage.overview()).details["search_index"] == "none (LIKE scan)"
    assert await storage.build_search_index() == 0


async def test_index_added_later_is_backfilled(tmp_path: Path, opened: Any) -> None:
    path = tmp_path / "flare.db"
    plain = await opened(path, search_index=False)
    await plain.save_logs([log(f"legacy {i}") for i in range(30)])
    await plain.close()
    indexed = await opened(path)
    assert (await indexed.overview()).details["search_index"].endswith(" 30 rows pending")
    assert await indexed.build_search_index() == 30
    assert await all_messages(indexed, search="legacy 29") == ["legacy 29"]
    # Once the index exists, a process that asked for none keeps it in step.
    again = await opened(path, search_index=False)
    assert (await again.overview()).details["search_index"].startswith("FTS5")


async def test_unreadable_json_comes_back_as_none(tmp_path: Path, opened: Any) -> None:
    storage = await opened(tmp_path / "flare.db")
    await storage.save_logs([log("x", context={"a": 1}, request_body={"b": 2})])
    async with storage.write_transaction() as tx:
        await tx.execute("UPDATE flare_logs SET context = '{broken', request_body = '[1, 2]'")
    [entry] = (await storage.list_logs(LogQuery())).items
    assert entry.context is None and entry.request_body is None


async def test_home_relative_paths_are_expanded(
    tmp_path: Path, opened: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    storage = await opened(Path("~/flare-home/flare.db"))
    await storage.save_logs([log("at home")])
    assert (tmp_path / "flare-home" / "flare.db").is_file()
    assert (await storage.overview()).location == str(tmp_path / "flare-home" / "flare.db")


def remove_database(path: Path) -> None:
    """Delete the file with its WAL and shared memory, as `rm flare.db*` would."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def test_deleted_file_is_recreated_on_the_next_write(tmp_path: Path, opened: Any) -> None:
    path = tmp_path / "flare.db"
    storage = await opened(path)
    await storage.save_logs([log("before")])
    remove_database(path)
    await storage.save_logs([log("after")])
    assert path.is_file()
    assert await all_messages(storage) == ["after"]
    check = sqlite3.connect(path)
    assert check.execute("SELECT message FROM flare_logs").fetchall() == [("after",)]
    check.close()


async def test_lock_errors_show_in_the_overview_until_writes_work(
    tmp_path: Path, opened: Any
) -> None:
    path = tmp_path / "flare.db"
    storage = await opened(path, busy_timeout_ms=200)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageError):
            await storage.save_logs([log("blocked")])
        info = await storage.overview()
        assert info.connected and "database is locked" in (info.error or "")
    finally:
        other.execute("ROLLBACK")
        other.close()
    await storage.save_logs([log("through")])
    assert (await storage.overview()).error is None


async def test_a_batch_is_one_call_to_the_writer_thread(tmp_path: Path) -> None:
    """Inserts, counters, issue grouping and COMMIT: one hop, not one per statement.

    Under load every hop waits for the event loop's next turn, so hops bound the ingest rate.
    """
    from fastapi_flare.storage.sqlite_issues import extension

    storage = SqliteStorage(str(tmp_path / "flare.db"), background_indexing=False)
    storage.add_extension(extension())
    await storage.open()
    try:
        await check_one_hop_per_batch(storage)
    finally:
        await storage.close()


async def check_one_hop_per_batch(storage: SqliteStorage) -> None:
    await storage.save_logs([log("warm-up")])  # the first batch also checks the backfill
    writer = storage._db._writer
    calls: list[str] = []
    original = writer._execute

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await original(fn, *args, **kwargs)

    writer._execute = counting
    await storage.save_logs([log(f"entry {n}", fingerprint=f"fp{n % 3}") for n in range(50)])
    assert calls == ["commit_body"]
    assert len(await all_messages(storage)) == 51


async def test_a_batch_body_may_not_wait_for_anything_else(tmp_path: Path, opened: Any) -> None:
    """A body that awaits outside its transaction is refused and leaves nothing behind."""
    storage = await opened(tmp_path / "flare.db")

    async def body(tx: Any) -> None:
        await tx.execute(
            "INSERT INTO flare_meta (key, value) VALUES ('half', 1) ON CONFLICT DO NOTHING"
        )
        await asyncio.sleep(0)  # suspends: not allowed inside the writer's thread

    with pytest.raises(RuntimeError, match="awaited something outside"):
        await storage._db.write_batch(body)
    assert await storage._db.fetch_all("SELECT * FROM flare_meta WHERE key = 'half'") == []
    await storage.save_logs([log("still writable")])
    assert await all_messages(storage) == ["still writable"]
