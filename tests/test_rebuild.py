"""Rebuilds: byte-identical to the live projections, swapped in without an empty moment."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, update
from sqlalchemy.engine import Connection

from events.catalogue import EventData
from events.store import EventStore, open_store
from projections import Projections, owners
from projections.rebuild import rebuild
from projections.runner import ProjectionRunner
from projections.schema import LIVE, checkpoints
from projections.setup import prepare_tables
from service.demo import SEED
from tests._event_strategies import ACTOR, append_plan, log_plan, table_rows


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EventStore]:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    yield store
    await store.close()


async def _live_then_rebuilt(
    path: Path, plan: list[tuple[str, list[EventData]]], batch_size: int, max_docs: int
) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{path / (uuid.uuid4().hex + '.db')}")
    try:
        await prepare_tables(store.engine)
        runner = ProjectionRunner(store, batch_size=batch_size, max_docs=max_docs)
        for step in plan:
            await append_plan(store, [step])
            if len(step[1]) % 2:  # let the runner lag sometimes: batches span several appends
                await runner.catch_up()
        await runner.catch_up()
        live = await table_rows(store.engine)
        assert _kept_owner_counts(live) == _recounted_owner_counts(live)
        progress: list[tuple[int, int]] = []
        position = await rebuild(
            store, batch_size=batch_size, max_docs=max_docs, progress=lambda *p: progress.append(p)
        )
        assert position == await store.head()
        assert progress[-1] == (position, position)
        assert await table_rows(store.engine) == live
    finally:
        await store.close()


Rows = dict[str, list[tuple[object, ...]]]


def _kept_owner_counts(rows: Rows) -> dict[object, tuple[object, ...]]:
    """`owner_counts` by owner id: agreements, open, completed, cancelled, rows."""
    return {row[0]: row[1:] for row in rows["owner_counts"]}


def _recounted_owner_counts(rows: Rows) -> dict[object, tuple[object, ...]]:
    """The same counted from `owner_items` (owner id is column 2, state column 4)."""
    counts: dict[object, list[int]] = {}
    for row in rows["owner_items"]:
        kept = counts.setdefault(row[2], [0] * (len(owners.COUNTS) + 1))
        kept[0 if row[4] is None else owners.COUNTS.index(f"{row[4]}_count")] += 1
        kept[-1] += 1
    return {owner_id: tuple(kept) for owner_id, kept in counts.items()}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=log_plan(), batch_size=st.integers(1, 12), max_docs=st.sampled_from([1, 3, 10_000]))
def test_rebuild_gives_exactly_the_live_rows(
    tmp_path: Path, plan: list[tuple[str, list[EventData]]], batch_size: int, max_docs: int
) -> None:
    asyncio.run(_live_then_rebuilt(tmp_path, plan, batch_size, max_docs))


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=log_plan(max_agreements=20, max_delegations=3, max_events=30))
def test_rebuild_of_a_few_hundred_events_gives_the_live_rows(
    tmp_path: Path, plan: list[tuple[str, list[EventData]]]
) -> None:
    asyncio.run(_live_then_rebuilt(tmp_path, plan, batch_size=50, max_docs=5))


async def test_readers_see_the_old_tables_until_the_swap_never_an_empty_view(
    store: EventStore,
) -> None:
    projections = Projections(store)
    for stream_id, events in SEED:
        await store.append(stream_id, events, metadata=ACTOR)
    await projections.start()
    try:
        assert await projections.wait_for(await store.head(), 5)
        seen: list[int] = []
        done = asyncio.Event()

        async def read_all_the_time() -> None:
            while not done.is_set():
                views, _ = await projections.list_partnerships()
                seen.append(len(views))
                await asyncio.sleep(0)

        reader = asyncio.create_task(read_all_the_time())
        for _ in range(3):
            await projections.rebuild()
        done.set()
        await reader
        assert seen and set(seen) == {3}
    finally:
        await projections.stop()


async def test_a_changed_schema_version_rebuilds_on_start(store: EventStore) -> None:
    for stream_id, events in SEED:
        await store.append(stream_id, events, metadata=ACTOR)
    projections = Projections(store)
    await projections.start()
    assert await projections.wait_for(await store.head(), 5)
    live = await table_rows(store.engine)
    await projections.stop()

    async with store.engine.begin() as connection:  # as if an older release wrote them
        await connection.execute(update(checkpoints).values(schema_version=0))
        await connection.exec_driver_sql("DELETE FROM partnerships")

    restarted = Projections(store)
    await restarted.start()
    try:
        assert await table_rows(store.engine) == live
    finally:
        await restarted.stop()


async def test_events_appended_during_a_rebuild_are_in_its_result(store: EventStore) -> None:
    projections = Projections(store)
    await projections.start()
    try:
        seed = iter(SEED)
        stream_id, events = next(seed)
        await store.append(stream_id, events, metadata=ACTOR)
        rebuilding = asyncio.create_task(projections.rebuild())
        for stream_id, events in seed:
            await store.append(stream_id, events, metadata=ACTOR)
        await rebuilding
        head = await store.head()
        assert await projections.wait_for(head, 5)
        views, position = await projections.list_partnerships()
        assert position == head and len(views) == 3
        live = await table_rows(store.engine)
        await rebuild(store)
        assert await table_rows(store.engine) == live
    finally:
        await projections.stop()


async def test_rebuilt_tables_have_every_index_of_their_definition(database_url: str) -> None:
    """The rebuild builds some indexes only after its rows are in: the swapped-in tables must
    still have all of them, or filtered lists (by owner, status, due date) read every row."""
    store = await open_store(database_url)
    try:
        await prepare_tables(store.engine)
        for stream_id, events in SEED:
            await store.append(stream_id, events, metadata=ACTOR)
        assert await rebuild(store) == await store.head()

        def indexes(sync: Connection) -> dict[str, set[tuple[str | None, ...]]]:
            found = inspect(sync)
            return {
                table.name: {tuple(i["column_names"]) for i in found.get_indexes(table.name)}
                for table in LIVE.tables
                if table.indexes
            }

        async with store.engine.connect() as connection:
            found = await connection.run_sync(indexes)
        for table in LIVE.tables:
            for index in table.indexes:
                columns = tuple(column.name for column in index.columns)
                assert columns in found[table.name], f"{index.name} missing after a rebuild"
    finally:
        await store.close()
