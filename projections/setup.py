"""Creating the projection tables and deciding whether they must be rebuilt.

Projection tables are derived data, so there are no migrations for them: `prepare` creates
what is missing and reports the projections stale when their stored schema version differs
from the code's, or a table vanished under a checkpoint that claims rows. A stale projection
is rebuilt from the log (`projections.rebuild`).
"""

from __future__ import annotations

from sqlalchemy import func, inspect, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from events.postgres_names import PROJECTION_SCHEMA_LOCK
from projections import positions
from projections._sql import write_transaction
from projections.schema import LIVE, SCHEMA_VERSIONS, checkpoint_metadata


async def prepare_tables(engine: AsyncEngine) -> bool:
    """Create missing tables and checkpoints; True if the projections must be rebuilt."""
    async with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            # Several instances may start at once: one creates, the others find it done.
            await connection.execute(select(func.pg_advisory_xact_lock(PROJECTION_SCHEMA_LOCK)))
        existing = await _table_names(connection)
        await connection.run_sync(checkpoint_metadata.create_all)
        await connection.run_sync(LIVE.metadata.create_all)
        stored = await positions.read_all(connection)
        if not stored:
            await positions.write(connection, dict.fromkeys(SCHEMA_VERSIONS, 0))
            return False
        return is_stale(stored, tables_missing=any(t.name not in existing for t in LIVE.tables))


def is_stale(stored: dict[str, tuple[int, int]], *, tables_missing: bool = False) -> bool:
    if any(stored.get(name, (0, None))[1] != version for name, version in SCHEMA_VERSIONS.items()):
        return True
    return tables_missing and any(position > 0 for position, _ in stored.values())


async def _table_names(connection: AsyncConnection) -> set[str]:
    return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
