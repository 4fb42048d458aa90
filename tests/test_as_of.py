"""As-of reads: the past replayed in memory equals what the live projection showed then."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from events.catalogue import EventData, FollowUpCompleted, FollowUpOpened, Owner
from events.envelope import Proposed, parse_timestamp
from events.store import EventStore, open_store
from projections import as_of
from projections.as_of import Cut
from projections.reader import ProjectionReader
from projections.runner import ProjectionRunner
from projections.setup import prepare_tables
from service.demo import SEED
from tests._event_strategies import ACTOR, append_plan, log_plan

TODAY = dt.date(2023, 6, 1)
_DAY_FILTERS: list[tuple[str | None, int | None, dt.date]] = [
    (status, None, day)
    for status in ("active", "expired", "terminated")
    for day in (TODAY, dt.date(2025, 6, 1))
] + [(None, 400, TODAY)]
"""Filters judged on a day (in SQL live, in memory as of a position): they must agree."""


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EventStore]:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    yield store
    await store.close()


async def _as_of_matches_live(path: Path, plan: list[tuple[str, list[EventData]]]) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{path / (uuid.uuid4().hex + '.db')}")
    try:
        await prepare_tables(store.engine)
        runner = ProjectionRunner(store)
        reader = ProjectionReader(store)
        seen = {}
        filtered = {}
        for step in plan:
            (position,) = await append_plan(store, [step])
            await runner.catch_up()
            seen[position] = (
                await reader.list_partnerships_json(),
                await reader.list_owners(today=TODAY),
                await reader.list_delegations_json(),
            )
            filtered[position] = [
                await reader.list_partnerships_json(
                    status=status, expiring_within_days=days, today=day
                )
                for status, days, day in _DAY_FILTERS
            ]
        for position, live in seen.items():
            past = (
                await reader.list_partnerships_json(as_of_position=position),
                await reader.list_owners(today=TODAY, as_of_position=position),
                await reader.list_delegations_json(as_of_position=position),
            )
            assert past == live
            assert [
                await reader.list_partnerships_json(
                    status=status, expiring_within_days=days, today=day, as_of_position=position
                )
                for status, days, day in _DAY_FILTERS
            ] == filtered[position]
            for doc in live[0][0]:
                agreement_id = doc.split(b'"agreement_id":"', 1)[1].split(b'"', 1)[0].decode()
                one = await reader.get_partnership_json(agreement_id, as_of_position=position)
                assert one == (doc, position)
    finally:
        await store.close()


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=log_plan(max_agreements=4, max_events=12))
def test_the_state_as_of_a_position_is_what_the_live_projection_showed_there(
    tmp_path: Path, plan: list[tuple[str, list[EventData]]]
) -> None:
    asyncio.run(_as_of_matches_live(tmp_path, plan))


async def test_record_time_cut_equals_the_position_cut(store: EventStore) -> None:
    for stream_id, events in SEED:
        await store.append(stream_id, events, metadata=ACTOR)
    log = await store.read_all()
    for event in log:
        # Events committed together share a record time: the cut takes the whole commit.
        last = max(e.position for e in log if e.recorded_at == event.recorded_at)
        by_time = await as_of.picture_at(store, Cut(recorded_at=parse_timestamp(event.recorded_at)))
        by_position = await as_of.picture_at(store, Cut(position=last))
        assert by_time == by_position


async def test_in_force_on_takes_business_dates_not_record_order(store: EventStore) -> None:
    for stream_id, events in SEED:
        await store.append(stream_id, events, metadata=ACTOR)
    owner = Owner(unit="FIT Tokyo office")
    opened = FollowUpOpened(
        follow_up_id="visit", title="Visit Rapidus", owner=owner, due_on=dt.date(2023, 3, 1)
    )
    done = FollowUpCompleted(follow_up_id="visit", completed_on=dt.date(2023, 2, 20))
    stream = "agreement-imec-rapidus-2022"
    await store.append(
        stream,
        [
            Proposed(
                type=opened.type_name,
                data=opened,
                occurred_at=dt.datetime(2023, 1, 10, tzinfo=dt.UTC),
            ),
            Proposed(
                type=done.type_name, data=done, occurred_at=dt.datetime(2023, 2, 20, tzinfo=dt.UTC)
            ),
        ],
        metadata=ACTOR,
    )

    async def state(day: dt.date) -> str | None:
        view = await as_of.partnership_at(store, stream, Cut(in_force_on=day))
        assert view is not None
        return view.follow_ups[0].state if view.follow_ups else None

    assert await state(dt.date(2023, 1, 9)) is None
    assert await state(dt.date(2023, 1, 10)) == "open"
    assert await state(dt.date(2023, 2, 20)) == "completed"
    before_signing = await as_of.partnership_at(
        store, stream, Cut(in_force_on=dt.date(2022, 12, 5))
    )
    assert before_signing is None
    picture = await as_of.picture_at(store, Cut(in_force_on=dt.date(2022, 12, 5)))
    assert sorted(picture.partnerships) == [
        "agreement-fit-jetro-2022",
        "agreement-settlemint-fujitsu-2022",
    ]
    assert picture.position == await store.head()


async def test_as_of_beyond_the_head_reflects_the_head(store: EventStore) -> None:
    for stream_id, events in SEED:
        await store.append(stream_id, events, metadata=ACTOR)
    reader = ProjectionReader(store)
    head = await store.head()
    view, position = await reader.get_partnership("imec-rapidus-2022", as_of_position=head + 100)
    assert position == head and view is not None and view.version == 4
    views, position = await reader.list_partnerships(as_of_position=0)
    assert (views, position) == ([], 0)
