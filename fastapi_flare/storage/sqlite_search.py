"""Paged queries and substring search for SQLite.

Search uses an FTS5 trigram index filled behind the writer. Indexing a row
with the trigram tokenizer costs ~10x a plain insert, so doing it inside
``save_logs`` would cap ingest at a few thousand rows per second. Instead rows
are indexed in chunks by ``index_step`` (run by the background indexer), and a
search reads two parts in one statement:

* rows the index has reached (``id <= upto``): an FTS5 ``MATCH`` of the term as
  a phrase of trigrams, which is exactly a case-insensitive substring match;
* the not-yet-indexed tail (``id > upto``): a plain ``LIKE`` scan, small
  because the indexer keeps up.

So results are always complete; the index only makes them fast. Terms shorter
than three characters cannot use trigrams and fall back to ``LIKE`` alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi_flare.storage._common import PENDING_CAP, Direction, like_pattern
from fastapi_flare.storage._sql import Params, id_bounds, order, select_list, where
from fastapi_flare.storage.sqlite_db import SqliteDatabase, SqliteTx
from fastapi_flare.storage.sqlite_schema import META, SearchSpec

MIN_TRIGRAM_CHARS = 3

# filters(params) -> conditions on the content table aliased ``t`` (no id bounds).
Filters = Callable[[Params], list[str]]


def like_condition(alias: str, columns: Sequence[str], p: Params, term: str) -> str:
    """``(a.c1 LIKE ? ESCAPE '\\' OR ...)`` for a substring search."""
    pattern = like_pattern(term)
    parts = [f"{alias}.{col} LIKE {p(pattern)} ESCAPE '\\'" for col in columns]
    return "(" + " OR ".join(parts) + ")"


def fts_phrase(term: str) -> str:
    """The term as one FTS5 string literal (a phrase), quotes doubled."""
    return '"' + term.replace('"', '""') + '"'


def page_sql(
    spec: SearchSpec,
    columns: Sequence[str],
    filters: Filters,
    p: Params,
    *,
    term: str | None,
    upto: int | None,
    before: int | None,
    after: int | None,
    direction: Direction,
    limit: int,
) -> str:
    """One page of ``spec.table`` (aliased ``t``) in ``direction`` order.

    ``upto`` is the indexer's progress, or None when there is no search index.
    """
    cols = select_list("t", columns)
    table = f"FROM {spec.table} AS t"
    if term is None or upto is None or len(term) < MIN_TRIGRAM_CHARS:
        conds = [*filters(p), *id_bounds(p, "t.id", before, after)]
        if term is not None:
            conds.append(like_condition("t", spec.columns, p, term))
        return f"SELECT {cols} {table}{where(conds)}{order('t.id', direction)} LIMIT {p(limit)}"
    tail_low = upto if after is None else max(upto, after)
    tail_conds = [*filters(p), *id_bounds(p, "t.id", before, tail_low)]
    tail_conds.append(like_condition("t", spec.columns, p, term))
    tail = f"SELECT {cols} {table}{where(tail_conds)}{order('t.id', direction)} LIMIT {p(limit)}"
    # One upper bound only, on f.rowid: FTS5 uses a single rowid bound to start
    # its walk; a second one would only be checked row by row after it.
    high = upto if before is None else min(upto, before - 1)
    fts_conds = [f"{spec.fts} MATCH {p(fts_phrase(term))}", f"f.rowid <= {p(high)}"]
    fts_conds += id_bounds(p, "f.rowid", None, after)
    fts_conds += filters(p)
    indexed = (
        f"SELECT {cols} FROM {spec.fts} AS f JOIN {spec.table} AS t ON t.id = f.rowid"
        f"{where(fts_conds)}{order('f.rowid', direction)} LIMIT {p(limit)}"
    )
    return (
        f"SELECT * FROM ({tail}) UNION ALL SELECT * FROM ({indexed})"
        f"{order('id', direction)} LIMIT {p(limit)}"
    )


async def search_upto(db: SqliteDatabase, spec: SearchSpec) -> int:
    """Highest id already in the search index."""
    value = await db.fetch_value(f"SELECT value FROM {META} WHERE key = ?", (spec.meta_key,))
    return int(value or 0)


async def pending_rows(db: SqliteDatabase, spec: SearchSpec) -> int:
    """Rows not yet in the search index, counted up to PENDING_CAP + 1."""
    upto = await search_upto(db, spec)
    value = await db.fetch_value(
        f"SELECT count(*) FROM (SELECT 1 FROM {spec.table} WHERE id > ? LIMIT ?)",
        (upto, PENDING_CAP + 1),
    )
    return int(value or 0)


async def index_step(db: SqliteDatabase, spec: SearchSpec, max_rows: int) -> int:
    """Index up to ``max_rows`` rows past ``upto`` in one write transaction."""
    cols = ", ".join(spec.columns)

    async def body(tx: SqliteTx) -> int:
        rows = await tx.fetch_all(f"SELECT value FROM {META} WHERE key = ?", (spec.meta_key,))
        upto = int(rows[0][0]) if rows else 0
        span = await tx.fetch_all(
            f"SELECT count(*), max(id) FROM (SELECT id FROM {spec.table} "
            "WHERE id > ? ORDER BY id LIMIT ?)",
            (upto, max_rows),
        )
        count, last = int(span[0][0]), span[0][1]
        if count == 0:
            return 0
        await tx.execute(
            f"INSERT INTO {spec.fts}(rowid, {cols}) SELECT id, {cols} FROM {spec.table} "
            "WHERE id > ? AND id <= ? ORDER BY id",
            (upto, last),
        )
        await tx.execute(f"UPDATE {META} SET value = ? WHERE key = ?", (last, spec.meta_key))
        return count

    # One call to the writer's thread: the write lock is held for the work alone,
    # not for a loop turn per statement (entry writes wait for it under load).
    # IMMEDIATE: another process indexing the same file must not read the same upto.
    return await db.run_write(body)
