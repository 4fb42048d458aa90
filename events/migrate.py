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
    on PostgreSQL they queue on an advisory lock; on SQLite on the write lock.

    The whole upgrade is one transaction, begun here, so the lock is held from the read of
    the schema version to the last migration's write. Alembic commits only a transaction it
    began itself: handed a connection without one, its SQLite dialect (no transactional DDL,
    as Alembic sees it) commits after every migration. The write lock was then let go between
    migrations while Alembic kept the version it had read at the start; an instance waiting
    for the lock could take it in that gap and run the rest, and this one then ran the next
    migration again ("table merkle_nodes already exists", six processes on a fresh file in
    CI; tests/test_migrate.py widens the gap). One transaction also means a failed upgrade
    leaves the schema as it was, not halfway.
    """
    async with engine.connect() as connection:
        # SQLite: take the write lock at BEGIN. A deferred transaction that reads the schema
        # and then writes fails at once ("database is locked") if another instance wrote first.
        connection = await connection.execution_options(**{IMMEDIATE: True})
        async with connection.begin():
            await connection.run_sync(_upgrade)


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
