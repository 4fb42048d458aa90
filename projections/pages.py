"""Lists read a page at a time, in id order, each walk fixed at one log position.

A walk over a list (page after page, following the cursor) answers as of the position P
its first page reflected, so it shows every item that existed at P exactly once, as it was
at P, however many appends land between two pages. The cost of a page stays that of a page:

- Each document row stores the position of the last event folded into it. A row changed
  at or before P is, as stored, its state at P (nothing changed it since), and the SQL
  filters apply to it as they are.
- A row changed after P (or created after P) is folded again from its own stream, cut at
  P: that gives its state at P, or nothing if it did not exist then; the filters are then
  checked on that state. Such rows are few unless the walk is slow and the writes many.
- The keyset `id > last id of the previous page` then gives each id at most once, and
  together the pages cover every id in order.

With a business date (`in_force_on`) no stored row can be trusted as it is (a late-recorded
fact may change any of them), so every row of the page is folded from its stream.
If the tables have not yet reached P (an `as_of_position` beyond what the projections have
applied), `keyset_page` says so and the caller replays the log instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncEngine

from projections.schema import checkpoints

T = TypeVar("T")
V = TypeVar("V")


@dataclasses.dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    position: int
    """The log position the items reflect (for a walk: the one its first page fixed)."""
    more: bool
    """Whether items follow the last one of this page."""


@dataclasses.dataclass(frozen=True)
class Keyset:
    """Where a page starts: after `after` (None: at the start), as of `at` (None: the first
    page of a walk over the current state, which fixes it), at most `limit` items."""

    at: int | None
    after: str | None
    limit: int
    in_force_on: dt.date | None = None


async def keyset_page(
    engine: AsyncEngine,
    *,
    name: str,
    table: Any,
    id_column: Any,
    condition: Any,
    keyset: Keyset,
    decode: Callable[[bytes], V],
    fold: Callable[[str], Awaitable[V | None]],
    keep: Callable[[V], bool],
) -> tuple[list[V], int, bool] | None:
    """The page's items (stored, or folded back to the walk's position), that position, and
    whether more follow; None when the projection `name` has not reached `keyset.at`.

    `condition`: the list's filters in SQL on `table`; `keep`: the same filters on an item.
    """
    at, day, limit = keyset.at, keyset.in_force_on, keyset.limit
    changed = table.c.position
    if at is None:
        where = condition
    elif day is None:
        where = or_(and_(condition, changed <= at), changed > at)
    else:
        where = true()
    found: list[V] = []
    last = keyset.after
    size = limit + 1
    while True:
        bounded = where if last is None else and_(where, id_column > last)
        query = _page_query(engine.dialect.name, name, table, id_column, bounded, size)
        async with engine.connect() as connection:
            rows: Sequence[Any] = (await connection.execute(query)).all()
        reached = rows[0][0] if rows else 0
        stored_as_is = at is None
        if at is None:
            at = reached
        elif reached < at:
            return None
        for _, key, doc, position in rows:
            if key is None:
                continue
            last = key
            item: V | None
            if stored_as_is or (day is None and position <= at):
                item = decode(doc)
            else:
                item = await fold(key)
                if item is None or not keep(item):
                    continue
            found.append(item)
            if len(found) > limit:
                return found[:limit], at, True
        if len(rows) < size or stored_as_is:
            return found, at, False


def _page_query(dialect: str, name: str, table: Any, id_column: Any, where: Any, size: int) -> Any:
    """The checkpoint of `name` and the first `size` rows of `table` matching `where` in id
    order (id, doc, position), in one statement: the checkpoint's row left-joined to them.

    On PostgreSQL the rows are chosen in a subquery first: ordered and limited on the outer
    join's nullable side, its planner cannot take the order from the id index and sorted
    every row for each page (a sequential scan and a top-N sort, growing with the list; as a
    subquery, an index scan of the page's rows). SQLite takes the order from the index
    through the one-row outer loop either way; there the subquery would copy the page's
    documents into a temporary table (slower a page). Figures: README, "Performance"."""
    changed = table.c.position
    if dialect != "postgresql":
        return (
            select(checkpoints.c.position, id_column, table.c.doc, changed)
            .select_from(checkpoints.outerjoin(table, where))
            .where(checkpoints.c.name == name)
            .order_by(id_column)
            .limit(size)
        )
    chosen = (
        select(id_column.label("key"), table.c.doc, changed.label("changed"))
        .where(where)
        .order_by(id_column)
        .limit(size)
        .subquery()
    )
    return (
        select(checkpoints.c.position, chosen.c.key, chosen.c.doc, chosen.c.changed)
        .select_from(checkpoints.outerjoin(chosen, true()))
        .where(checkpoints.c.name == name)
        .order_by(chosen.c.key)
    )


def page_of(
    items: Sequence[V], key: Callable[[V], str], after: str | None, limit: int
) -> tuple[list[V], bool]:
    """A keyset page of items already in memory, sorted by `key`."""
    rest = [item for item in items if after is None or key(item) > after]
    return rest[:limit], len(rest) > limit
