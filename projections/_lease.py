"""Who applies the projections: on PostgreSQL, the holder of a session advisory lock.

The lock lives on a dedicated connection in autocommit mode (an open transaction would be cut
by `idle_in_transaction_session_timeout`, and the lock with it). When the holder dies, its
connection closes, PostgreSQL releases the lock and another instance's next `acquire` wins.
The same connection LISTENs for "projections advanced" notices from whichever instance
applies. SQLite has one process and no such lock: there the lease is always held.

Correctness never rests on the lease alone: every batch also claims its checkpoint range
(`projections.positions.claim`), so two appliers at once cannot apply an event twice.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from events.postgres_names import PROJECTION_APPLY_LOCK, PROJECTIONS_CHANNEL

log = logging.getLogger(__name__)

APPLY_LOCK_KEY = PROJECTION_APPLY_LOCK
CHANNEL = PROJECTIONS_CHANNEL


class Lease:
    def __init__(self, engine: AsyncEngine, on_notice: Callable[[int], None]) -> None:
        self._engine = engine
        self._on_notice = on_notice
        self._connection: AsyncConnection | None = None
        self.held = engine.dialect.name != "postgresql"

    @property
    def exclusive(self) -> bool:
        """True where a lock is needed at all (PostgreSQL)."""
        return self._engine.dialect.name == "postgresql"

    async def acquire(self) -> bool:
        """Try (without waiting) to hold the lease; True if held. Also checks that a held
        lease's connection is still alive, and drops the lease if not."""
        if not self.exclusive:
            return True
        try:
            connection = await self._connect()
            if self.held:
                await connection.exec_driver_sql("SELECT 1")
            else:
                query = select(func.pg_try_advisory_lock(APPLY_LOCK_KEY))
                self.held = bool((await connection.execute(query)).scalar())
                if self.held:
                    log.info("this instance now applies the projections")
        except Exception as error:
            log.warning("projection lease connection lost: %s", error)
            await self.release()
        return self.held

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if self.exclusive:
            self.held = False
        if connection is not None:
            # Invalidate, not close: a pooled connection would keep the lock and the listener.
            with contextlib.suppress(Exception):
                await connection.invalidate()
            with contextlib.suppress(Exception):
                await connection.close()

    async def _connect(self) -> AsyncConnection:
        if self._connection is None:
            connection = await self._engine.connect()
            try:
                connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
                raw = await connection.get_raw_connection()
                driver: Any = raw.driver_connection
                await driver.add_listener(CHANNEL, self._heard)
            except BaseException:
                await connection.invalidate()
                await connection.close()
                raise
            self._connection = connection
        return self._connection

    def _heard(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            self._on_notice(int(payload))
