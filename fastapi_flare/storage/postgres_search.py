"""Paged queries and substring search for PostgreSQL.

A ``pg_trgm`` GIN index on the main table would cut batch ingest to a third,
so the text to search lives in a side table (``T_search``) filled behind the
writer by ``index_step``. A search page is read in parts, newest first:

* the not-yet-indexed tail (``id > upto``): ``ILIKE`` on the columns themselves;
* the newest ``WINDOW`` indexed rows, scanned in id order (cheap, and enough
  for any common term: no index needed);
* only when that window holds too few matches (a rare term): the trigram index
  over the older rows.

The split does the planner's job on purpose: a GIN index cannot return rows in
id order, so for a common term (30% of a million rows) an index plan reads all
300,000 matches to keep 50, while for a rare term an id-order scan reads the
whole table. Each part here is bounded whatever the term and the statistics.
Results are always complete; the index only makes them fast. Without
``pg_trgm`` every search is a plain ``ILIKE`` scan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi_flare.storage._common import Direction, like_pattern
from fastapi_flare.storage._sql import Params, id_bounds, order, select_list, where
from fastapi_flare.storage.postgres_db import PgDatabase
from fastapi_flare.storage.postgres_schema import PgSearchSpec

# filters(params) -> conditions on the content table aliased ``t`` (no id bounds).
Filters = Callable[[Params], list[str]]
Rows = list[tuple[Any, ...]]
# Newest indexed rows scanned in id order before the trigram index is consulted.
WINDOW = 3_000


def ilike_condition(alias: str, columns: Sequence[str], pattern_ph: str) -> str:
    """``(a.c1 ILIKE $n OR ...)`` with one shared pattern parameter."""
    return "(" + " OR ".join(f"{alias}.{col} ILIKE {pattern_ph}" for col in columns) + ")"


class PageReader:
    """Reads one page of a content table, with or without a search term."""

    def __init__(
        self,
        db: PgDatabase,
        spec: PgSearchSpec,
        columns: Sequence[str],
        filters: Filters,
        direction: Direction,
    ) -> None:
        self.db, self.spec, self.columns = db, spec, columns
        self.filters, self.direction = filters, direction
        self.content = spec.content(db.names)
        self.search = spec.search(db.names)

    async def page(
        self, term: str | None, upto: int | None, before: int | None, after: int | None, limit: int
    ) -> Rows:
        """Rows in ``direction`` order between the cursors, at most ``limit``."""
        if term is None or upto is None:
            p = Params("postgresql")
            conds = [*self.filters(p), *id_bounds(p, "t.id", before, after)]
            if term is not None:
                conds.append(ilike_condition("t", self.spec.columns, p(like_pattern(term))))
            return await self._select(p, conds, limit)
        pattern = like_pattern(term)
        parts = [self._tail, self._indexed]
        if self.direction == "asc":
            parts.reverse()
        rows: Rows = []
        for part in parts:
            if len(rows) < limit:
                rows += await part(pattern, upto, before, after, limit - len(rows))
        return rows

    async def _select(self, p: Params, conds: list[str], limit: int) -> Rows:
        cols = select_list("t", self.columns)
        sql = f"SELECT {cols} FROM {self.content} AS t{where(conds)}"
        return await self.db.fetch_all(
            f"{sql}{order('t.id', self.direction)} LIMIT {p(limit)}", p.values
        )

    async def _tail(
        self, pattern: str, upto: int, before: int | None, after: int | None, limit: int
    ) -> Rows:
        p = Params("postgresql")
        conds = [f"t.id > {p(upto)}", *self.filters(p), *id_bounds(p, "t.id", before, after)]
        conds.append(ilike_condition("t", self.spec.columns, p(pattern)))
        return await self._select(p, conds, limit)

    def _probe(self, p: Params, source: str) -> str:
        """Rows of ``source`` (ids in order) joined one by one to the content table.

        LATERAL with OFFSET 0 keeps the join a nested loop in ``source`` order,
        so LIMIT stops it after the page is full.
        """
        cols = select_list("t", self.columns)
        conds = ["t.id = m.id", *self.filters(p)]
        return (
            f"SELECT c.* FROM ({source}) AS m CROSS JOIN LATERAL (SELECT {cols} "
            f"FROM {self.content} AS t{where(conds)} OFFSET 0) AS c{order('m.id', self.direction)}"
        )

    async def _indexed(
        self, pattern: str, upto: int, before: int | None, after: int | None, limit: int
    ) -> Rows:
        high = upto if before is None else min(upto, before - 1)
        if after is not None and after >= high:
            return []
        desc = self.direction == "desc"
        p = Params("postgresql")
        bounds = f"s.id <= {p(high)}" + ("" if after is None else f" AND s.id > {p(after)}")
        window = (
            f"SELECT s.id, s.doc FROM {self.search} AS s WHERE {bounds}"
            f"{order('s.id', self.direction)} LIMIT {p(WINDOW)}"
        )
        source = f"SELECT w.id FROM ({window}) AS w WHERE w.doc ILIKE {p(pattern)}"
        source += order("w.id", self.direction)
        recent = await self.db.fetch_all(f"{self._probe(p, source)} LIMIT {p(limit)}", p.values)
        if len(recent) >= limit:
            return recent
        edge = await self.db.fetch_value(
            f"SELECT s.id FROM {self.search} AS s WHERE {bounds}{order('s.id', self.direction)} "
            f"OFFSET {WINDOW - 1} LIMIT 1",
            p.values[: 1 if after is None else 2],
        )
        if edge is None:  # the window held every indexed row in range
            return recent
        return recent + await self._older(
            pattern, high, after, int(edge), desc, limit - len(recent)
        )

    async def _older(
        self, pattern: str, high: int, after: int | None, edge: int, desc: bool, limit: int
    ) -> Rows:
        # Rows beyond the window, through the trigram index. "id + 0" keeps the
        # planner from walking the primary key over the whole range instead.
        p = Params("postgresql")
        conds = [f"s.doc ILIKE {p(pattern)}"]
        if desc:
            conds.append(f"s.id + 0 < {p(edge)}")
            if after is not None:
                conds.append(f"s.id + 0 > {p(after)}")
        else:
            conds += [f"s.id + 0 > {p(edge)}", f"s.id + 0 <= {p(high)}"]
        matches = f"SELECT s.id FROM {self.search} AS s{where(conds)}"
        source = f"SELECT id FROM matches{order('id', self.direction)}"
        sql = f"WITH matches AS MATERIALIZED ({matches}) {self._probe(p, source)} LIMIT {p(limit)}"
        return await self.db.fetch_all(sql, p.values)


async def search_upto(db: PgDatabase, spec: PgSearchSpec) -> int:
    """Highest id already in the search table."""
    value = await db.fetch_value(
        f"SELECT value FROM {db.names.table('meta')} WHERE key = $1", (spec.meta_key,)
    )
    return int(value or 0)


async def pending_rows(db: PgDatabase, spec: PgSearchSpec) -> int:
    """Rows not yet in the search table: ids above ``upto`` (gaps of rolled-back batches
    count too; an index lookup, whatever the table size or its statistics)."""
    upto = await search_upto(db, spec)
    newest = await db.fetch_value(f"SELECT max(id) FROM {spec.content(db.names)}")
    return max(int(newest or 0) - upto, 0)


async def index_step(db: PgDatabase, spec: PgSearchSpec, max_rows: int) -> int:
    """Copy up to ``max_rows`` rows past ``upto`` into the search table."""
    meta, content = db.names.table("meta"), spec.content(db.names)
    async with db.write(db.index_key) as tx:
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
        # New entries sit in the GIN pending list, which every search scans
        # linearly until a vacuum merges it; merge it now, in bulk, off the
        # request path.
        await tx.execute("SELECT gin_clean_pending_list(to_regclass($1))", (spec.index(db.names),))
        return count
