"""Connection pool and statement timeout settings: from the environment to the engine.

`AGREEMENTS_POOL_SIZE`, `AGREEMENTS_POOL_MAX_OVERFLOW`, `AGREEMENTS_POOL_TIMEOUT` and
`AGREEMENTS_STATEMENT_TIMEOUT_MS` become `Settings`, which `open_store` hands to the engine:
the pool is that size, waits that long, and PostgreSQL cancels statements past the timeout.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from events.store import EventStore, open_store
from service.app import create_app
from service.settings import Settings
from tests._databases import fresh_postgres

ENV = {
    "AGREEMENTS_POOL_SIZE": "4",
    "AGREEMENTS_POOL_MAX_OVERFLOW": "2",
    "AGREEMENTS_POOL_TIMEOUT": "1.5",
    "AGREEMENTS_STATEMENT_TIMEOUT_MS": "700",
}


def test_the_settings_come_from_the_environment_and_flags_win() -> None:
    settings = Settings.from_env({**ENV, "AGREEMENTS_DATABASE_URL": "sqlite+aiosqlite:///x.db"})
    assert settings.engine_settings() == {
        "pool_size": 4,
        "max_overflow": 2,
        "pool_timeout": 1.5,
        "statement_timeout_ms": 700,
    }
    assert Settings.from_env(ENV, pool_size=9).pool_size == 9
    defaults = Settings.from_env({}).engine_settings()
    assert defaults["statement_timeout_ms"] == 15_000 and defaults["pool_timeout"] == 10.0


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with fresh_postgres() as url:
        yield url


def pool_of(engine: AsyncEngine) -> QueuePool:
    pool = engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    return pool


async def assert_configured(engine: AsyncEngine) -> None:
    pool = pool_of(engine)
    assert (pool.size(), pool._max_overflow, pool.timeout()) == (4, 2, 1.5)
    async with engine.connect() as connection:
        shown = (await connection.execute(text("SHOW statement_timeout"))).scalar()
        assert shown == "700ms"
        started = time.monotonic()
        with pytest.raises(OperationalError):  # cancelled by PostgreSQL: "unavailable", a 503
            await connection.execute(text("SELECT pg_sleep(5)"))
        assert time.monotonic() - started < 3


@pytest.mark.postgres
async def test_open_store_hands_them_to_the_engine(postgres_url: str) -> None:
    settings = Settings.from_env({**ENV, "AGREEMENTS_DATABASE_URL": postgres_url})
    store: EventStore = await open_store(postgres_url, **settings.engine_settings())
    try:
        await assert_configured(store.engine)
    finally:
        await store.close()


@pytest.mark.postgres
async def test_the_service_opens_its_store_with_them(postgres_url: str) -> None:
    settings = Settings.from_env(
        {**ENV, "AGREEMENTS_DATABASE_URL": postgres_url},
        bootstrap_admin_token=False,
        start_projections=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:
        assert state is not None
        await assert_configured(state["services"].store.engine)
