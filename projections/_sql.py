"""Small SQL helpers shared by the read models: bulk upserts, chunked IN lists, snapshots,
and statements executed at the driver with plain tuples (no per-row SQLAlchemy work)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, delete, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from events.database import IMMEDIATE

T = TypeVar("T")

CHUNK = 2000
"""Ids per IN list: far below SQLite's and asyncpg's bound-parameter limits."""


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def upsert(dialect: str, table: Table, key: Sequence[str]) -> Any:
    """INSERT … ON CONFLICT (key) DO UPDATE every other column, for SQLite or PostgreSQL.
    Execute it with a list of row dicts: one statement for the whole batch."""
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    others = {c.name: insert.excluded[c.name] for c in table.columns if c.name not in key}
    return insert.on_conflict_do_update(index_elements=list(key), set_=others)


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """SQL in the driver's own parameter style, and the order its parameters come in."""

    sql: str
    parameters: tuple[str, ...]


_COMPILED: dict[tuple[str, str, str], DriverStatement] = {}


def driver_statement(
    connection: Connection | AsyncConnection,
    kind: str,
    table: Table,
    build: Callable[[], Any],
    parameters: Sequence[str] | None = None,
) -> DriverStatement:
    """`build()` compiled once per dialect, statement kind and table. `parameters`: the order
    callers give values in (default: the table's columns); checked against the compiled one."""
    key = (connection.dialect.name, kind, table.name)
    if key not in _COMPILED:
        compiled = build().compile(dialect=connection.dialect)
        order = tuple(compiled.positiontup or ())
        expected = tuple(parameters or [column.name for column in table.columns])
        if order != expected:
            raise AssertionError(f"{kind} on {table.name}: parameters {order} != {expected}")
        _COMPILED[key] = DriverStatement(str(compiled), order)
    return _COMPILED[key]


def execute_rows(
    connection: Connection, statement: DriverStatement, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Execute with many parameter tuples (in `statement.parameters` order) at the driver:
    one round trip, no per-row processing. Nothing happens for no rows. Synchronous, like
    every projection write: see `ProjectionRunner.apply_batch` for why."""
    if rows:
        connection.exec_driver_sql(statement.sql, list(rows))


def replace_agreement_rows(
    connection: Connection,
    table: Table,
    stale: Sequence[tuple[Any, ...]],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """Delete the rows of the agreements in `stale` (one-tuples of agreement ids), then insert
    `rows` (in the table's column order): how a read model keyed by agreement is rewritten."""
    delete_rows = driver_statement(
        connection,
        "delete",
        table,
        lambda: delete(table).where(table.c.agreement_id == bindparam("agreement_id")),
        ["agreement_id"],
    )
    execute_rows(connection, delete_rows, stale)
    insert_rows = driver_statement(connection, "insert", table, lambda: insert(table))
    execute_rows(connection, insert_rows, rows)


async def snapshot(connection: AsyncConnection) -> AsyncConnection:
    """Make the next transaction on `connection` one consistent snapshot for several reads.
    SQLite's explicit BEGIN already is one; PostgreSQL needs REPEATABLE READ."""
    if connection.dialect.name == "postgresql":
        return await connection.execution_options(isolation_level="REPEATABLE READ")
    return connection


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One write transaction, committed on success. On SQLite it starts with BEGIN IMMEDIATE,
    so it waits for the write lock up front instead of failing on a later lock upgrade."""
    async with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            await connection.execution_options(**{IMMEDIATE: True})
        async with connection.begin():
            yield connection


@asynccontextmanager
async def read_snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One read-only transaction whose statements all see the same committed state."""
    async with engine.connect() as connection:
        await snapshot(connection)
        async with connection.begin():
            yield connection
