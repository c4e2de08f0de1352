"""Paged queries and substring search for PostgreSQL.

A ``pg_trgm`` GIN index on the main table would cut batch ingest to a third,
so the text to search lives in a side table (``T_search``) filled behind the
writer by ``index_step``. A search reads, in one statement:

* rows the index has reached (``id <= upto``): ``doc ILIKE`` on the side table,
  answered by the trigram index;
* the not-yet-indexed tail (``id > upto``): ``ILIKE`` on the columns themselves.

Results are always complete; the index only makes them fast. Without
``pg_trgm`` every search is a plain ``ILIKE`` scan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi_flare.storage._common import Direction, like_pattern
from fastapi_flare.storage._sql import Params, order, select_list, where
from fastapi_flare.storage.extensions import PgNames
from fastapi_flare.storage.postgres_db import PgDatabase
from fastapi_flare.storage.postgres_schema import PgSearchSpec

# filters(params, id_column) -> conditions on alias ``t`` plus id bounds on id_column.
Filters = Callable[[Params, str], list[str]]


def ilike_condition(alias: str, columns: Sequence[str], pattern_ph: str) -> str:
    """``(a.c1 ILIKE $n OR ...)`` with one shared pattern parameter."""
    return "(" + " OR ".join(f"{alias}.{col} ILIKE {pattern_ph}" for col in columns) + ")"


def page_sql(
    names: PgNames,
    spec: PgSearchSpec,
    columns: Sequence[str],
    filters: Filters,
    p: Params,
    *,
    term: str | None,
    upto: int | None,
    direction: Direction,
    limit: int,
) -> str:
    """One page of the spec's content table (aliased ``t``) in ``direction`` order."""
    cols = select_list("t", columns)
    content = f"FROM {spec.content(names)} AS t"
    if term is None or upto is None:
        conds = filters(p, "t.id")
        if term is not None:
            conds.append(ilike_condition("t", spec.columns, p(like_pattern(term))))
        return f"SELECT {cols} {content}{where(conds)}{order('t.id', direction)} LIMIT {p(limit)}"
    pattern, upto_ph, limit_ph = p(like_pattern(term)), p(upto), p(limit)
    tail_conds = [f"t.id > {upto_ph}", *filters(p, "t.id")]
    tail_conds.append(ilike_condition("t", spec.columns, pattern))
    tail = f"SELECT {cols} {content}{where(tail_conds)}{order('t.id', direction)} LIMIT {limit_ph}"
    indexed_conds = [f"s.doc ILIKE {pattern}", f"s.id <= {upto_ph}", *filters(p, "s.id")]
    indexed = (
        f"SELECT {cols} FROM {spec.search(names)} AS s JOIN {spec.content(names)} AS t "
        f"ON t.id = s.id{where(indexed_conds)}{order('s.id', direction)} LIMIT {limit_ph}"
    )
    union = f"(({tail}) UNION ALL ({indexed})) AS u"
    return f"SELECT * FROM {union}{order('id', direction)} LIMIT {limit_ph}"


async def search_upto(db: PgDatabase, spec: PgSearchSpec) -> int:
    """Highest id already in the search table."""
    value = await db.fetch_value(
        f"SELECT value FROM {db.names.table('meta')} WHERE key = $1", (spec.meta_key,)
    )
    return int(value or 0)


async def pending_rows(db: PgDatabase, spec: PgSearchSpec) -> int:
    """Rows not yet in the search table (an id range count on the primary key)."""
    upto = await search_upto(db, spec)
    value = await db.fetch_value(
        f"SELECT count(*) FROM {spec.content(db.names)} WHERE id > $1", (upto,)
    )
    return int(value or 0)


async def index_step(db: PgDatabase, spec: PgSearchSpec, max_rows: int) -> int:
    """Copy up to ``max_rows`` rows past ``upto`` into the search table."""
    meta, content = db.names.table("meta"), spec.content(db.names)
    async with db.write() as tx:
        rows = await tx.fetch_all(f"SELECT value FROM {meta} WHERE key = $1", (spec.meta_key,))
        upto = int(rows[0][0]) if rows else 0
        span = await tx.fetch_all(
            f"SELECT count(*), max(id) FROM (SELECT id FROM {content} "
            "WHERE id > $1 ORDER BY id LIMIT $2) AS x",
            (upto, max_rows),
        )
        count, last = int(span[0][0]), span[0][1]
        if count == 0:
            return 0
        await tx.execute(
            f"INSERT INTO {spec.search(db.names)} (id, doc) SELECT t.id, {spec.doc_sql('t')} "
            f"FROM {content} AS t WHERE t.id > $1 AND t.id <= $2 ON CONFLICT (id) DO NOTHING",
            (upto, last),
        )
        await tx.execute(f"UPDATE {meta} SET value = $1 WHERE key = $2", (last, spec.meta_key))
        return count
