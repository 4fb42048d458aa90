"""Scratch PostgreSQL databases for the PostgreSQL figures, created and dropped per run."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class Scratch:
    url: str
    """SQLAlchemy URL (postgresql+asyncpg://...)."""
    dsn: str
    """The same database for plain asyncpg."""


async def unreachable(admin_dsn: str) -> str | None:
    """None if PostgreSQL answers at `admin_dsn`, else why not."""
    try:
        connection = await asyncpg.connect(admin_dsn, timeout=3)
    except Exception as error:
        return f"PostgreSQL at {admin_dsn} is not reachable ({type(error).__name__}: {error})"
    await connection.close()
    return None


@asynccontextmanager
async def scratch_database(admin_dsn: str) -> AsyncIterator[Scratch]:
    name = f"agreements_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = f"{admin_dsn.rsplit('/', 1)[0]}/{name}"
    try:
        yield Scratch(url=dsn.replace("postgresql://", "postgresql+asyncpg://", 1), dsn=dsn)
    finally:
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
