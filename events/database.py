"""Engines for the two supported databases, chosen by URL.

SQLite: WAL journal, `synchronous=FULL` (a commit is on disk before the append is
acknowledged; with group commit its cost is shared), a busy timeout instead of instant
"database is locked", and explicit `BEGIN` so a multi-statement read is one snapshot
(`BEGIN IMMEDIATE` for writers, so two writers never deadlock on a lock upgrade).

PostgreSQL (asyncpg): pool size, overflow, pool timeout and a statement timeout come from
settings, so a lost or stuck database fails a request quickly instead of hanging it. asyncpg's
failures are classified as psycopg classifies them: a lost connection, a refused or timed-out
connect, a cancelled statement (statement timeout) or a server shutting down is an
`OperationalError` ("the database is unavailable, retry"), which the service answers with 503.
Out of the box SQLAlchemy raises some of them as a bare `DBAPIError`, and a failed connect or
a client-side timeout as a raw `OSError` or `TimeoutError`, which would be 500s.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine, ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

DEFAULT_URL = "sqlite+aiosqlite:///agreements.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite statement waits for another connection's lock before "locked"."""
IMMEDIATE = "sqlite_begin_immediate"
"""Execution option: open the SQLite transaction with BEGIN IMMEDIATE (take the write lock)."""


def quiet_driver_logs() -> None:
    """aiosqlite logs every call with its arguments (event bodies) at DEBUG: keep it above."""
    logging.getLogger("aiosqlite").setLevel(logging.INFO)


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
    sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
) -> AsyncEngine:
    backend = make_url(url).get_backend_name()
    quiet_driver_logs()
    if backend == "sqlite":
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            hide_parameters=True,
            pool_reset_on_return=None,  # see `_reset_if_in_transaction`
        )
        _configure_sqlite(engine.sync_engine, sqlite_busy_timeout_ms)
        event.listen(engine.sync_engine, "reset", _reset_if_in_transaction)
        return engine
    if backend == "postgresql":
        engine = create_async_engine(
            url,
            hide_parameters=True,  # parameters are event bodies: never in logs or errors
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
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
        _configure_postgresql(engine, ping_timeout=pool_timeout)
        return engine
    raise ValueError(
        f"unsupported database {backend!r}: use sqlite+aiosqlite or postgresql+asyncpg"
    )


def create_sqlite_writer_engine(
    url: str, *, sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
) -> Engine:
    """The synchronous twin of a SQLite engine (pysqlite, same file, same pragmas) for the
    writer's own thread: see `events._write_channel`."""
    sync_url = make_url(url).set(drivername="sqlite+pysqlite")
    if sync_url.database in (None, "", ":memory:"):
        raise ValueError("the store needs a SQLite file: an in-memory database is per connection")
    engine = sqlalchemy.create_engine(sync_url, pool_size=1, max_overflow=0, hide_parameters=True)
    _configure_sqlite(engine, sqlite_busy_timeout_ms)
    return engine


def _reset_if_in_transaction(
    dbapi_connection: Any, record: ConnectionPoolEntry, state: PoolResetState
) -> None:
    """Roll back a pooled SQLite connection on its return only if a transaction is open.

    The driver runs in autocommit mode (transactions are begun explicitly, see below) and
    SQLAlchemy ends its own transactions before a connection goes back, so a connection used
    for driver-level reads (`events.log_reads`) comes back with nothing to roll back. The
    pool's unconditional rollback was one more hop to aiosqlite's thread on every such read,
    about half the time of a small one. `in_transaction` is SQLite's autocommit flag, read
    without I/O, so a transaction left open by anything else is still rolled back."""
    if state.terminate_only or not state.asyncio_safe or state.transaction_was_reset:
        return
    if record.driver_connection is not None and record.driver_connection.in_transaction:
        dbapi_connection.rollback()


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            f"busy_timeout={busy_timeout_ms}",
            "journal_mode=WAL",
            "synchronous=FULL",
            "foreign_keys=ON",
            # Deleted and overwritten content is zeroed, not left in free space: an erasure
            # (events.erasure) must leave no copy of the erased values in the file.
            "secure_delete=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57", "58")
"""connection exception, insufficient resources (too many connections), operator intervention
(query cancelled, e.g. by the statement timeout; admin or crash shutdown), system error."""


def _configure_postgresql(engine: AsyncEngine, *, ping_timeout: float) -> None:
    """Classify failures as unavailability, and ping pooled connections before use.

    The ping replaces `pool_pre_ping`, whose ping has no timeout of its own (a silent network
    holds it for the whole command timeout) and raises a raw `TimeoutError` past the
    `handle_error` hook. A connection that fails the ping is replaced (SQLAlchemy reconnects);
    one that was just opened is not pinged.
    """

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Dialect, _record: ConnectionPoolEntry, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.loaded_dbapi.connect(*cargs, **cparams)
        except (OSError, TimeoutError) as error:  # refused, unreachable, or no answer in time
            message = f"cannot connect to the database: {type(error).__name__}: {error}"
            raise dialect.loaded_dbapi.OperationalError(message) from error

    @event.listens_for(engine.sync_engine, "connect")
    def _opened(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_FRESH] = True

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if record.info.pop(_FRESH, False):
            return
        try:
            dbapi_connection.run_async(
                lambda driver: driver.fetchval("SELECT 1", timeout=ping_timeout)
            )
        except Exception as error:
            raise DisconnectionError(f"pooled connection failed its ping: {error!r}") from error

    @event.listens_for(engine.sync_engine, "handle_error", retval=True)
    def _handle_error(context: ExceptionContext) -> BaseException | None:
        if isinstance(context.sqlalchemy_exception, OperationalError):
            return None
        error = context.original_exception
        if not isinstance(error, Exception):
            # A cancellation (or an interrupt) that lands while a statement waits on the
            # server: SQLAlchemy counts the connection lost and re-raises it as it is. It must
            # reach the task as itself — `asyncio.timeout`, task groups and shutdowns rely on
            # a CancelledError — not as "the database is unavailable".
            return None
        if isinstance(error, OSError | TimeoutError):
            # The driver gave up waiting (command_timeout) or the socket failed: the
            # connection's state is unknown, so it must not go back to the pool.
            context.is_disconnect = True
        elif not (context.is_disconnect or is_unavailable(error)):
            return None
        return OperationalError(
            context.statement,
            context.parameters,
            error,
            hide_parameters=context.engine.hide_parameters if context.engine else False,
            connection_invalidated=context.is_disconnect,
        )


_FRESH = "agreements_fresh"
"""Connection info key: opened since its last checkout, so a ping would prove nothing."""


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database cannot be reached or cannot answer now ("retry
    later"), whichever layer raised it: a socket error or timeout, a PostgreSQL error of one
    of `_UNAVAILABLE_SQLSTATE_CLASSES` (raw from asyncpg, or wrapped by SQLAlchemy), or a
    driver's "connection is closed". For code that talks to the driver directly and so
    bypasses the engine's classification: raise `OperationalError(sql, params, error)`."""
    if isinstance(error, OSError | TimeoutError):
        return True
    for candidate in (error, error.__cause__, getattr(error, "orig", None)):
        sqlstate = getattr(candidate, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATE_CLASSES):
            return True
    return "connection is closed" in str(error)
