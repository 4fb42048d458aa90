"""The projection runner on a real SQLite store: batches, checkpoints, wake-ups, waiting."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from events.catalogue import NoteAttached
from events.envelope import Metadata, Proposed
from events.store import EventStore, open_store
from projections import owners
from projections.reader import ProjectionReader
from projections.rebuild import rebuild
from projections.runner import ProjectionRunner
from projections.schema import LIVE, checkpoints
from projections.setup import prepare_tables
from service.demo import SEED
from tests._event_strategies import table_rows

ACTOR = Metadata(actor="tests")
UTC = dt.UTC


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EventStore]:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    yield store
    await store.close()


async def record_seed(store: EventStore) -> int:
    position = 0
    for stream_id, events in SEED:
        position = (await store.append(stream_id, events, metadata=ACTOR)).to_position
    return position


async def stored_checkpoints(store: EventStore) -> dict[str, int]:
    async with store.engine.connect() as connection:
        rows = await connection.execute(select(checkpoints.c.name, checkpoints.c.position))
        return dict(rows.all())


async def test_batches_apply_every_event_once_and_move_the_checkpoint(store: EventStore) -> None:
    head = await record_seed(store)
    await prepare_tables(store.engine)
    runner = ProjectionRunner(store, batch_size=3)
    assert await runner.catch_up() == head
    assert await stored_checkpoints(store) == {
        "partnerships": head,
        "owners": head,
        "delegations": head,
        "follow_ups": head,
        "partnership_search": head,
    }
    rows = await table_rows(store.engine)
    assert not await runner.apply_batch()  # nothing left: a second pass applies nothing
    assert await table_rows(store.engine) == rows
    view, position = await ProjectionReader(store).get_partnership("imec-rapidus-2022")
    assert position == head
    assert view is not None and len(view.endorsements) == 2


async def test_a_batch_that_fails_midway_leaves_rows_and_checkpoint_untouched(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = await record_seed(store)
    await prepare_tables(store.engine)
    runner = ProjectionRunner(store, batch_size=100)

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(owners, "replace_rows", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        await runner.apply_batch()
    assert await stored_checkpoints(store) == dict.fromkeys(
        ["partnerships", "owners", "delegations", "follow_ups", "partnership_search"], 0
    )
    async with store.engine.connect() as connection:
        assert (await connection.execute(select(LIVE.partnerships.docs))).all() == []
    assert runner.position == 0

    monkeypatch.undo()
    assert await runner.catch_up() == head
    (summary,), _ = await ProjectionReader(store).list_owners(today=dt.date(2023, 1, 1))
    assert summary.unit == "FIT Tokyo office"


async def test_stopping_during_a_query_is_not_reported_as_a_failed_batch(
    store: EventStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """On PostgreSQL, SQLAlchemy reports a query cancelled by `stop()` as an OperationalError:
    a clean shutdown must not log it as a failure (service logs are watched for errors)."""
    runner = ProjectionRunner(store, poll_interval=60)
    querying = asyncio.Event()

    async def query_the_driver_reports_cancelled() -> bool:
        querying.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError as cancelled:
            raise OperationalError("SELECT ...", {}, cancelled) from cancelled
        return True

    monkeypatch.setattr(runner, "apply_batch", query_the_driver_reports_cancelled)
    await runner.start()
    await asyncio.wait_for(querying.wait(), timeout=5)
    with caplog.at_level(logging.WARNING, logger="projections.runner"):
        await asyncio.wait_for(runner.stop(), timeout=5)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_an_append_wakes_the_runner_without_waiting_for_the_poll(store: EventStore) -> None:
    runner = ProjectionRunner(store, poll_interval=60)
    await runner.start()
    try:
        await asyncio.sleep(0.05)
        head = await record_seed(store)
        assert await runner.wait_for(head, timeout=5)
        assert runner.position == head
    finally:
        await runner.stop()


async def test_wait_for_gives_up_after_its_timeout(store: EventStore) -> None:
    runner = ProjectionRunner(store)
    await runner.start()
    try:
        started = asyncio.get_running_loop().time()
        assert not await runner.wait_for(1, timeout=0.2)
        assert asyncio.get_running_loop().time() - started >= 0.2
    finally:
        await runner.stop()


async def test_a_runner_that_does_not_apply_still_sees_the_checkpoint_move(
    store: EventStore,
) -> None:
    applier = ProjectionRunner(store)
    follower = ProjectionRunner(store)  # never started: waits by reading the checkpoint
    await applier.start()
    try:
        waiting = asyncio.create_task(follower.wait_for(5, timeout=5))
        await asyncio.sleep(0.1)
        await record_seed(store)
        assert await waiting
    finally:
        await applier.stop()


async def test_two_appliers_on_one_database_never_apply_an_event_twice(store: EventStore) -> None:
    await prepare_tables(store.engine)
    first, second = ProjectionRunner(store, batch_size=2), ProjectionRunner(store, batch_size=3)
    head = await record_seed(store)
    # Interleave them: each finds the checkpoint moved by the other and follows it.
    while first.position < head or second.position < head:
        await first.apply_batch()
        await second.apply_batch()
    both = await table_rows(store.engine)

    await first.stop()
    await second.stop()
    await rebuild(store)
    assert await table_rows(store.engine) == both


async def test_appends_in_a_stream_share_batches_and_a_waiting_reader_is_served_at_once(
    store: EventStore,
) -> None:
    await record_seed(store)
    runner = ProjectionRunner(store, poll_interval=60, coalesce=5.0)
    batches: list[int] = []
    runner.add_listener(batches.append)
    await runner.start()
    try:
        head = await store.head()
        assert await runner.wait_for(head, 5)
        applied = len(batches)
        positions = [await note(store, n) for n in range(20)]
        # The runner applied the first note at once, then lets the rest gather; a reader
        # waiting for its own write does not wait out the pause.
        started = asyncio.get_running_loop().time()
        assert await runner.wait_for(positions[-1], timeout=2)
        assert asyncio.get_running_loop().time() - started < 2
        assert len(batches) - applied <= 3
    finally:
        await runner.stop()


async def note(store: EventStore, n: int) -> int:
    data = NoteAttached(text=f"note {n}")
    result = await store.append(
        "agreement-imec-rapidus-2022",
        [Proposed(type=data.type_name, data=data, occurred_at=dt.datetime(2023, 1, 1, tzinfo=UTC))],
        metadata=ACTOR,
    )
    return result.to_position


async def test_a_restart_adopts_the_stored_position_without_reading_the_log_before_it(
    store: EventStore,
) -> None:
    """A new runner (a restarted process) takes up the stored checkpoint without reading the
    events before it: a search of the whole log for a rewriting event read every event at
    start-up (seconds at 10,000,000 events). Its rewrite listeners are told to forget instead
    (nothing is held yet, so nothing is lost)."""
    head = await record_seed(store)
    await prepare_tables(store.engine)
    await ProjectionRunner(store).catch_up()

    statements: list[str] = []

    def heard(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    restarted = ProjectionRunner(store)
    forgotten: list[bool] = []
    restarted.add_rewrite_listener(lambda: forgotten.append(True))
    event.listen(store.engine.sync_engine, "before_cursor_execute", heard)
    try:
        await restarted.start()
        assert restarted.position == head
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", heard)
        await restarted.stop()
    assert not [s for s in statements if "FROM events" in s], statements
    assert forgotten == [True]
