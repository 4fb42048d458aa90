"""LISTEN/NOTIFY on PostgreSQL: hear about commits made by other instances.

A dedicated connection listens on the channel the writer notifies in each transaction; if it
drops, it reconnects with backoff. Pollers elsewhere remain the fallback for missed notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from events.postgres_names import LOG_CHANNEL

log = logging.getLogger(__name__)

CHANNEL = LOG_CHANNEL


class PostgresListener:
    def __init__(self, engine: AsyncEngine, on_head: Callable[[int], None]) -> None:
        self._engine = engine
        self._on_head = on_head
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="log-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with self._engine.connect() as connection:
                    await self._listen(connection)
                    delay = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("LISTEN connection lost (%s); retrying in %.1fs", error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _listen(self, connection: AsyncConnection) -> None:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        lost = asyncio.Event()

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            with contextlib.suppress(ValueError):
                self._on_head(int(payload))

        driver.add_termination_listener(lambda _conn: lost.set())
        await driver.add_listener(CHANNEL, on_notify)
        try:
            while not lost.is_set():
                # asyncpg delivers notifications between queries; a cheap query also detects
                # a dead connection that never told us.
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow stop()'s cancel.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5.0):
                        await lost.wait()
                if not lost.is_set():
                    await driver.execute("SELECT 1")
        finally:
            with contextlib.suppress(Exception):
                await driver.remove_listener(CHANNEL, on_notify)
