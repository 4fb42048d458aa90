"""Create or upgrade the log's schema with Alembic, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from events.database import IMMEDIATE
from events.postgres_names import MIGRATION_LOCK

_SCRIPTS = Path(__file__).parent / "migrations"


async def migrate(engine: AsyncEngine) -> None:
    """Bring the database to the newest schema. Safe when several instances start at once:
    on PostgreSQL they queue on an advisory lock; on SQLite on the write lock."""
    async with engine.connect() as connection:
        # SQLite: take the write lock at BEGIN. A deferred transaction that reads the schema
        # and then writes fails at once ("database is locked") if another instance wrote first.
        connection = await connection.execution_options(**{IMMEDIATE: True})
        await connection.run_sync(_upgrade)
        await connection.commit()


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
