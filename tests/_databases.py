"""Databases for tests: a SQLite file per test, or a fresh PostgreSQL database per test.

PostgreSQL tests skip with a clear reason when no server answers, except in CI (`CI=true`),
where a missing server is a failure: the PostgreSQL half of the contract must really run there.
Set AGREEMENTS_TEST_POSTGRES to point at another server (an admin connection URL).
"""

from __future__ import annotations

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


@asynccontextmanager
async def database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    if backend == "postgresql":
        async with fresh_postgres() as url:
            yield url
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'agreements.db'}"
