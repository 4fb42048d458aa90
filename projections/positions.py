"""Projection positions: how far each read model has applied the log, written with its rows.

(The table is still called `projection_checkpoints`; *signed* checkpoints of the log are
`events.signed_checkpoints`.)

A batch *claims* its range by moving every checkpoint from the position it started at to the
position it ends at, conditionally, as its first statement: if another applier (a second
instance, a rebuild's swap) moved them meanwhile, the claim fails and the batch is rolled back.
So an event is never applied twice, whoever holds or lost a lock. Taking the checkpoint rows
first also gives every writer of projection tables the same lock order.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from projections.schema import SCHEMA_VERSIONS, checkpoints


async def read_all(connection: AsyncConnection) -> dict[str, tuple[int, int]]:
    """name -> (position, schema_version) of every stored checkpoint."""
    rows = await connection.execute(
        select(checkpoints.c.name, checkpoints.c.position, checkpoints.c.schema_version)
    )
    return {name: (position, version) for name, position, version in rows}


async def reached(connection: AsyncConnection) -> int:
    """The position every read model has applied: the least of their checkpoints (0 while
    one has none). They move together (`claim`), so this is each one's, read without naming
    any read model."""
    query = select(func.min(checkpoints.c.position), func.count()).where(
        checkpoints.c.name.in_(list(SCHEMA_VERSIONS))
    )
    least, count = (await connection.execute(query)).one()
    return int(least) if count == len(SCHEMA_VERSIONS) else 0


async def common_position(connection: AsyncConnection) -> int | None:
    """The position all projections have reached, or None if they disagree or are missing."""
    stored = await read_all(connection)
    positions = {stored[name][0] for name in SCHEMA_VERSIONS if name in stored}
    if len(positions) != 1 or len(stored) < len(SCHEMA_VERSIONS):
        return None
    return positions.pop()


def claim(connection: Connection, expected: int, new: int) -> bool:
    """Move every checkpoint from `expected` to `new`; False (nothing to commit) if any was
    elsewhere. Synchronous, like the projection writes it goes with."""
    result = connection.execute(
        update(checkpoints)
        .where(checkpoints.c.name.in_(list(SCHEMA_VERSIONS)))
        .where(checkpoints.c.position == expected)
        .values(position=new)
    )
    return result.rowcount == len(SCHEMA_VERSIONS)


async def lock(connection: AsyncConnection) -> dict[str, tuple[int, int]]:
    """Take the checkpoint rows for this transaction (a rebuild's swap) and return them."""
    query = select(checkpoints.c.name, checkpoints.c.position, checkpoints.c.schema_version)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    else:
        # SQLite has no row locks: a no-op write takes the database's write lock instead.
        await connection.execute(update(checkpoints).values(position=checkpoints.c.position))
    rows = await connection.execute(query)
    return {name: (position, version) for name, position, version in rows}


async def write(connection: AsyncConnection, positions: Mapping[str, int]) -> None:
    """Set the checkpoints (and the code's schema versions), creating missing rows."""
    dialect = connection.dialect.name
    insert = (
        postgresql.insert(checkpoints) if dialect == "postgresql" else sqlite.insert(checkpoints)
    )
    statement = insert.on_conflict_do_update(
        index_elements=["name"],
        set_={
            "position": insert.excluded.position,
            "schema_version": insert.excluded.schema_version,
        },
    )
    await connection.execute(
        statement,
        [
            {"name": name, "position": position, "schema_version": SCHEMA_VERSIONS[name]}
            for name, position in positions.items()
        ],
    )
