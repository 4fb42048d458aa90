"""Where the writer's transactions run: one synchronous function per group, two ways to run it.

The writer's transaction is a handful of statements (head, ids, streams, insert, update).
Through SQLAlchemy's async layer on aiosqlite every one of them is a hop to aiosqlite's thread
and back, each waiting its turn on a busy event loop behind the HTTP requests, with SQLite's
write lock held across all of them. So on SQLite the writer owns a plain `sqlite3` connection
(SQLAlchemy's synchronous pysqlite engine, same pragmas) in a thread of its own, and a whole
group transaction is one hop. SQLite releases the GIL while it works, so the commit's `fsync`
never stalls the event loop, and the projection runner's batches run on the same thread in
turn with appends instead of fighting them for the lock (`EventStore.run_write`).

On PostgreSQL asyncpg has no thread to hop to; the same synchronous function runs through
SQLAlchemy's greenlet bridge (`AsyncConnection.run_sync`), statement by statement on the
event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from events.database import IMMEDIATE

log = logging.getLogger(__name__)

T = TypeVar("T")


class WriteChannel(Protocol):
    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work` with the writer's connection (opened if need be); it begins and ends
        its own transaction."""
        ...

    async def drop(self) -> None:
        """Discard the connection after a failed transaction: its state is unknown."""
        ...

    async def close(self) -> None: ...


class ThreadChannel:
    """SQLite: one thread owns the writer's connection; a group transaction is one hop."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="event-writer")
        self._connection: Connection | None = None
        self._closed = False

    async def run(self, work: Callable[[Connection], T]) -> T:
        return await self._in_thread(lambda: work(self._open()))

    async def drop(self) -> None:
        await self._in_thread(self._discard)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def shut() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            self._engine.dispose()  # sqlite3 connections belong to the thread that made them

        try:
            await self._in_thread(shut)
        finally:
            self._thread.shutdown(wait=True)

    async def _in_thread(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    def _open(self) -> Connection:
        if self._connection is None or self._connection.closed:
            self._connection = self._engine.connect().execution_options(**{IMMEDIATE: True})
        return self._connection

    def _discard(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except Exception:  # already broken; the pool discards it
                log.debug("closing a failed writer connection", exc_info=True)
            self._connection = None


class BridgeChannel:
    """PostgreSQL: the writer's pooled async connection, driven through the greenlet bridge."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None

    async def run(self, work: Callable[[Connection], T]) -> T:
        if self._connection is None or self._connection.closed:
            self._connection = await self._engine.connect()
        return await self._connection.run_sync(work)

    async def drop(self) -> None:
        """Invalidated, not returned to the pool: asyncpg may still think an operation runs."""
        if self._connection is not None:
            try:
                await self._connection.invalidate()
                await self._connection.close()
            except Exception:  # already broken; the pool discards it
                log.debug("closing a failed writer connection", exc_info=True)
            self._connection = None

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
