"""Create or upgrade the log's schema with Alembic, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from events.database import IMMEDIATE
from events.postgres_names import MIGRATION_LOCK

_SCRIPTS = Path(__file__).parent / "migrations"


async def migrate(engine: AsyncEngine) -> None:
    """Bring the database to the newest schema. Safe when several instances start at once:
    on PostgreSQL they queue on an advisory lock; on SQLite on the write lock."""
    for attempt in range(_SQLITE_ATTEMPTS):
        try:
            async with engine.connect() as connection:
                # SQLite: take the write lock at BEGIN. A deferred transaction that reads the
                # schema and then writes fails at once ("database is locked") if another
                # instance wrote first.
                connection = await connection.execution_options(**{IMMEDIATE: True})
                await connection.run_sync(_upgrade)
                await connection.commit()
            return
        except OperationalError as error:
            # Seen once in CI with six processes opening a fresh SQLite file together: one
            # read an older schema version than the tables it found ("table merkle_nodes
            # already exists"); the cause is not found yet. The failed migration rolled back
            # whole, so reading the version again under a new lock is safe.
            last = attempt == _SQLITE_ATTEMPTS - 1
            if engine.dialect.name != "sqlite" or "already exists" not in str(error) or last:
                raise


_SQLITE_ATTEMPTS = 3


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
