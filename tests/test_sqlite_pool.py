"""SQLite's pooled read connections go back to the pool without a transaction left open."""

from __future__ import annotations

from pathlib import Path

from events.database import create_engine


async def test_a_transaction_left_open_is_rolled_back_when_the_connection_returns(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}", pool_size=1)
    try:
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            await driver.execute("BEGIN")
            await driver.execute("SELECT 1")
            assert driver.in_transaction  # as a careless driver-level read would leave it
        async with engine.connect() as connection:  # pool_size=1: the same connection
            raw = await connection.get_raw_connection()
            assert raw.driver_connection is driver
            assert not driver.in_transaction
    finally:
        await engine.dispose()
