"""Engines for the two supported databases, chosen by URL.

SQLite: WAL journal, `synchronous=FULL` (a commit is on disk before the append is
acknowledged; with group commit its cost is shared), a busy timeout instead of instant
"database is locked", and explicit `BEGIN` so a multi-statement read is one snapshot
(`BEGIN IMMEDIATE` for writers, so two writers never deadlock on a lock upgrade).

PostgreSQL (asyncpg): pool size, overflow, pool timeout and a statement timeout come from
settings, so a lost or stuck database fails a request quickly instead of hanging it.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

DEFAULT_URL = "sqlite+aiosqlite:///agreements.db"
IMMEDIATE = "sqlite_begin_immediate"
"""Execution option: open the SQLite transaction with BEGIN IMMEDIATE (take the write lock)."""


def database_url(explicit: str | None = None) -> str:
    """`--database-url`, else `$AGREEMENTS_DATABASE_URL`, else a SQLite file here."""
    return explicit or os.environ.get("AGREEMENTS_DATABASE_URL") or DEFAULT_URL


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 10.0,
    statement_timeout_ms: int = 15_000,
    sqlite_busy_timeout_ms: int = 10_000,
) -> AsyncEngine:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        engine = create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        _configure_sqlite(engine, sqlite_busy_timeout_ms)
        return engine
    if backend == "postgresql":
        return create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_pre_ping=True,
            connect_args={
                "command_timeout": statement_timeout_ms / 1000 + 5,
                "timeout": pool_timeout,
                "server_settings": {
                    "statement_timeout": str(statement_timeout_ms),
                    "idle_in_transaction_session_timeout": str(statement_timeout_ms * 4),
                    "application_name": "agreements",
                },
            },
        )
    raise ValueError(
        f"unsupported database {backend!r}: use sqlite+aiosqlite or postgresql+asyncpg"
    )


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            f"busy_timeout={busy_timeout_ms}",
            "journal_mode=WAL",
            "synchronous=FULL",
            "foreign_keys=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
