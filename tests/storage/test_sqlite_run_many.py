"""``run_many``: INSERTs as multi-row statements, with executemany's results."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from fastapi_flare.storage.sqlite_db import MAX_ROWS_PER_INSERT, run_many


def connect(tmp_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "many.db")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, k TEXT UNIQUE, n INT)")
    return conn


def test_insert_in_chunks_keeps_order_and_every_row(tmp_path: Path) -> None:
    rows = [(f"k{i}", i) for i in range(MAX_ROWS_PER_INSERT * 2 + 7)]
    with closing(connect(tmp_path)) as conn:
        run_many(conn, "INSERT INTO t (k, n) VALUES (?, ?)", rows)
        stored = conn.execute("SELECT id, k, n FROM t ORDER BY id").fetchall()
        # Ids are contiguous and in row order: the batch's ids are derived from the last one.
        assert stored == [(i + 1, k, n) for i, (k, n) in enumerate(rows)]
        assert conn.execute("SELECT last_insert_rowid()").fetchone() == (len(rows),)


def test_upsert_tail_applies_to_repeated_keys_in_one_statement(tmp_path: Path) -> None:
    upsert = "INSERT INTO t (k, n) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET n = n + excluded.n"
    with closing(connect(tmp_path)) as conn:
        run_many(conn, upsert, [("a", 1), ("b", 2), ("a", 10), ("a", 100)])
        assert conn.execute("SELECT k, n FROM t ORDER BY k").fetchall() == [("a", 111), ("b", 2)]


def test_other_statements_run_once_per_row(tmp_path: Path) -> None:
    with closing(connect(tmp_path)) as conn:
        run_many(conn, "INSERT INTO t (k, n) VALUES (?, ?)", [("a", 1), ("b", 2)])
        run_many(conn, "UPDATE t SET n = ? WHERE k = ?", [(5, "a"), (6, "b")])
        run_many(conn, "INSERT INTO t (k, n) VALUES (?, ?)", [("c", 3)])  # a single row
        assert conn.execute("SELECT k, n FROM t ORDER BY k").fetchall() == [
            ("a", 5),
            ("b", 6),
            ("c", 3),
        ]


def test_a_refused_row_fails_the_statement(tmp_path: Path) -> None:
    # A duplicate key fails the statement, as with executemany.
    with closing(connect(tmp_path)) as conn, pytest.raises(sqlite3.IntegrityError):
        run_many(conn, "INSERT INTO t (k, n) VALUES (?, ?)", [("a", 1), ("a", 2)])
