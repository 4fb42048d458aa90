"""Databases for tests: a SQLite file per test, or a fresh PostgreSQL database per test.

PostgreSQL tests skip with a clear reason when no server answers, except in CI (`CI=true`),
where a missing server is a failure: the PostgreSQL half of the contract must really run there.
Set AGREEMENTS_TEST_POSTGRES to point at another server (an admin connection URL).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

ADMIN_DSN = os.environ.get(
    "AGREEMENTS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


_probed: dict[str, str | None] = {}


async def postgres_problem() -> str | None:
    """None if PostgreSQL answers, else why not (probed once per test run)."""
    if ADMIN_DSN not in _probed:
        try:
            connection = await asyncpg.connect(ADMIN_DSN, timeout=3)
            await connection.close()
            _probed[ADMIN_DSN] = None
        except Exception as error:
            _probed[ADMIN_DSN] = f"PostgreSQL at {ADMIN_DSN} is not reachable: {error}"
    return _probed[ADMIN_DSN]


async def require_postgres() -> None:
    problem = await postgres_problem()
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"{problem} (CI=true: PostgreSQL tests must run, not skip)")
    pytest.skip(problem)


@asynccontextmanager
async def fresh_postgres() -> AsyncIterator[str]:
    """A new empty database, dropped afterwards; yields its SQLAlchemy URL."""
    await require_postgres()
    name = f"agreements_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


_emptied: list[str] = []
"""Databases this process made for `reused_postgres`, emptied and ready to hand out again."""
_made: set[str] = set()


@asynccontextmanager
async def reused_postgres() -> AsyncIterator[str]:
    """An empty database, like `fresh_postgres`, from this process's own pool: emptied after
    the test (its schema dropped and made again) instead of dropped. DROP DATABASE waits for a
    checkpoint, a second or more on a busy machine; two of them per test were most of the
    time the PostgreSQL API tests took. Unique names, so parallel workers never share one."""
    await require_postgres()
    if _emptied:
        name = _emptied.pop()
    else:
        name = f"agreements_test_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        _made.add(name)
    try:
        yield f"{_base_url()}/{name}"
    finally:
        try:
            await _empty(name)
        except BaseException:
            await _drop(name)
            _made.discard(name)
            raise
        _emptied.append(name)


async def _empty(name: str) -> None:
    connection = await asyncpg.connect(ADMIN_DSN.rsplit("/", 1)[0] + "/" + name)
    try:
        await connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        await connection.execute(
            "DROP SCHEMA public CASCADE; CREATE SCHEMA public; GRANT ALL ON SCHEMA public TO PUBLIC"
        )
    finally:
        await connection.close()


async def _drop(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def drop_reused() -> None:
    """Drop this process's pooled databases (at the end of the session)."""
    if not _made:
        return

    async def drop_all() -> None:
        for name in sorted(_made):
            await _drop(name)

    asyncio.run(drop_all())
    _made.clear()
    _emptied.clear()


def _base_url() -> str:
    return ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)


@asynccontextmanager
async def database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    if backend == "postgresql":
        async with reused_postgres() as url:
            yield url
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'agreements.db'}"
