"""Rebuild every projection from the log, with no gap for readers.

The log is replayed from position 0 into fresh shadow tables (`…__rebuild`), read in pages
of plain rows at the driver and folded in place into a bounded working set, so memory stays
flat however long the log. The shadow tables get the indexes the rebuild does not use itself
once their rows are in (`_create_shadow`). Then one short
transaction takes the checkpoint rows (waiting for any applier's batch in flight), folds the
few events appended meanwhile, drops the live tables and renames the shadows over them, and
sets the positions. Readers see the old tables until that commit and the new ones after,
never an empty view. The folds are the live projection's own, so the rows are byte-identical.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable

from sqlalchemy import Index, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import CreateIndex, DropIndex, DropTable

from events.log_reads import Row, log_rows
from events.personal import folding, log_secret
from events.postgres_names import PROJECTION_REBUILD_LOCK
from events.store import EventStore
from projections import positions
from projections._sql import write_transaction
from projections.schema import (
    LIVE,
    SCHEMA_VERSIONS,
    SHADOW_SUFFIX,
    ProjectionTables,
    build_tables,
    live_name,
)
from projections.setup import is_stale
from projections.working_set import WorkingSet

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (position replayed, head of the log) as the rebuild advances."""


async def rebuild(
    store: EventStore,
    *,
    progress: Progress | None = None,
    batch_size: int = 5000,
    max_docs: int = 4000,
    max_events_held: int = 200_000,
    only_if_stale: bool = False,
) -> int:
    """Rebuild all projections; returns the position they reflect afterwards.

    `max_docs` and `max_events_held` bound memory: past either (documents in memory, events
    folded into them), the least recently touched half is written to the shadow tables and
    dropped from memory, to be loaded again if touched again. `only_if_stale`: do nothing
    unless the stored schema versions differ from the code's (for several instances
    starting at once)."""
    engine = store.engine
    async with _exclusive(engine):
        if only_if_stale:
            async with engine.connect() as connection:
                stored = await positions.read_all(connection)
            if not is_stale(stored):
                return min(position for position, _ in stored.values())
        shadow = build_tables(SHADOW_SUFFIX, "_" + secrets.token_hex(4))
        deferred = await _create_shadow(engine, shadow)
        working = WorkingSet(shadow, fresh=True)
        secret = await log_secret(engine)
        head = await store.head()
        position = 0
        async for rows in _pages(engine, batch_size):
            if working.needs_load(rows):
                async with engine.connect() as connection:
                    await working.load(connection, rows)
            with folding(secret):
                working.apply(rows)
            position = rows[-1][0]
            if working.size > max_docs or working.weight > max_events_held:
                await _evict(engine, working, max_docs // 2, max_events_held // 2)
            if progress is not None:
                progress(position, max(head, position))
        # What is folded so far goes to the shadow tables now, outside the swap's transaction
        # (which then writes only what the events appended meanwhile changed), and before
        # the deferred indexes are built over it.
        async with write_transaction(engine) as connection:
            await working.flush(connection)
        if deferred:
            async with write_transaction(engine) as connection:
                for index in deferred:
                    await connection.execute(CreateIndex(index))
        async with write_transaction(engine) as connection:
            await positions.lock(connection)
            # The write lock (SQLite) or the checkpoint rows (PostgreSQL) are ours: fold what
            # was appended meanwhile; what commits after these reads, the runner applies.
            while rows := await log_rows(engine, after=position, limit=batch_size):
                await working.load(connection, rows)
                with folding(secret):
                    working.apply(rows)
                position = rows[-1][0]
            await working.flush(connection)
            await _swap(connection, shadow.tables)
            await positions.write(connection, dict.fromkeys(SCHEMA_VERSIONS, position))
        if progress is not None:
            progress(position, position)
        log.info("projections rebuilt up to position %d", position)
        return position


async def _evict(
    engine: AsyncEngine, working: WorkingSet, keep_docs: int, keep_weight: int
) -> None:
    """Write the least recently touched documents and drop them from memory. (In the
    foreground: the database driver's thread needs the interpreter lock for every row it
    writes, so writing in the background while folding only makes both wait.)"""
    keys = frozenset(working.oldest(keep_docs, keep_weight))
    writes = working.take(keys, evict=True)
    async with write_transaction(engine) as connection:
        await connection.run_sync(working.write, writes)


async def _create_shadow(engine: AsyncEngine, shadow: ProjectionTables) -> list[Index]:
    """Fresh, empty shadow tables (dropping the leftovers of an interrupted rebuild), without
    the indexes the rebuild's own statements do not use; returns those, to be created once
    the rows are in.

    Building an index over rows already written sorts them once and writes each page once;
    growing it row by row writes into random pages of it, again and again (SQLite spills and
    rereads them once its page cache is full). The rebuild reads and deletes rows only by
    a document's id, a primary-key column of every table, so the indexes that lead with one
    stay (a derived table's rows are deleted by agreement id when a document is written
    twice); the others are built after the fold."""
    deferred: list[Index] = []
    async with write_transaction(engine) as connection:
        for table in shadow.tables:
            await connection.execute(DropTable(table, if_exists=True))
        await connection.run_sync(shadow.metadata.create_all)
        for table in shadow.tables:
            keys = set(table.primary_key.columns.keys())
            for index in sorted(table.indexes, key=lambda index: str(index.name)):
                if getattr(index.expressions[0], "name", None) not in keys:
                    await connection.execute(DropIndex(index))
                    deferred.append(index)
    return deferred


async def _swap(connection: AsyncConnection, shadow_tables: tuple[Table, ...]) -> None:
    quote = connection.dialect.identifier_preparer.quote
    for shadow in shadow_tables:
        live = LIVE.metadata.tables[live_name(shadow)]
        await connection.execute(DropTable(live, if_exists=True))
        await connection.execute(
            text(f"ALTER TABLE {quote(shadow.name)} RENAME TO {quote(live.name)}")
        )


async def _pages(engine: AsyncEngine, size: int) -> AsyncIterator[list[Row]]:
    """The log in pages of plain rows."""
    rows = await log_rows(engine, after=0, limit=size)
    while rows:
        yield rows
        rows = await log_rows(engine, after=rows[-1][0], limit=size)


@contextlib.asynccontextmanager
async def _exclusive(engine: AsyncEngine) -> AsyncIterator[None]:
    """One rebuild at a time per database (PostgreSQL: a session advisory lock)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(select(func.pg_advisory_lock(PROJECTION_REBUILD_LOCK)))
        try:
            yield
        finally:
            await connection.execute(select(func.pg_advisory_unlock(PROJECTION_REBUILD_LOCK)))
