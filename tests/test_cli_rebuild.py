"""`agreements rebuild` on the demo plus a few hundred random valid events gives exactly the
rows the live projections had."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from events.catalogue import EventData
from events.store import open_store
from projections.runner import ProjectionRunner
from projections.setup import prepare_tables
from service.cli import main, record_demo
from tests._event_strategies import append_plan, log_plan, table_rows

Rows = dict[str, list[tuple[object, ...]]]


async def _live_rows(url: str, plan: list[tuple[str, list[EventData]]]) -> Rows:
    store = await open_store(url)
    try:
        await prepare_tables(store.engine)
        runner = ProjectionRunner(store)
        await record_demo(store)
        for number, step in enumerate(plan):
            await append_plan(store, [step])
            if number % 3 == 0:  # the live runner lags and catches up in uneven batches
                await runner.catch_up()
        await runner.catch_up()
        assert runner.position == await store.head()
        return await table_rows(store.engine)
    finally:
        await store.close()


async def _rows(url: str) -> Rows:
    store = await open_store(url)
    try:
        return await table_rows(store.engine)
    finally:
        await store.close()


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=log_plan(max_agreements=20, max_delegations=3, max_events=30))
def test_rebuild_command_reproduces_the_live_rows(
    tmp_path: Path, plan: list[tuple[str, list[EventData]]]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / (uuid.uuid4().hex + '.db')}"
    live = asyncio.run(_live_rows(url, plan))
    assert sum(len(rows) for rows in live.values()) > 0
    assert main(["rebuild", "--database-url", url]) == 0
    assert asyncio.run(_rows(url)) == live
