"""The store contract: every backend must pass these unchanged (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid

import msgspec
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from events.catalogue import AgreementEndorsed, AgreementSigned, Party, Person
from events.envelope import GENESIS_HASH, Metadata, Proposed
from events.errors import (
    IdempotencyConflict,
    RuleViolation,
    ValidationFailed,
    WrongExpectedVersion,
)
from events.hashing import event_hash
from events.store import EventStore, open_store

WHEN = dt.datetime(2022, 12, 6, 10, 0, tzinfo=dt.UTC)
ACTOR = Metadata(actor="tester", correlation_id="c-1")


def signed(title: str = "imec-Rapidus MoC", event_id: str | None = None) -> Proposed:
    return Proposed(
        type="AgreementSigned",
        data=AgreementSigned(
            kind="MoC",
            title=title,
            parties=[
                Party(organisation="imec", signatory=Person(name="Luc Van den hove")),
                Party(organisation="Rapidus", signatory=Person(name="Atsuyoshi Koike")),
            ],
            signed_on=dt.date(2022, 12, 6),
        ),
        occurred_at=WHEN,
        event_id=event_id,
    )


def endorsed(by: str = "Jan Jambon", event_id: str | None = None) -> Proposed:
    return Proposed(
        type="AgreementEndorsed",
        data=AgreementEndorsed(
            endorser=Person(name=by),
            on_behalf_of="Government of Flanders",
            endorsed_on=dt.date(2022, 12, 6),
        ),
        occurred_at=WHEN,
        event_id=event_id,
    )


async def test_append_assigns_versions_positions_and_metadata(store: EventStore) -> None:
    result = await store.append(
        "agreement-a", [signed(), endorsed()], expected_version="no_stream", metadata=ACTOR
    )
    assert (result.from_version, result.to_version) == (1, 2)
    assert (result.from_position, result.to_position) == (1, 2)
    assert result.created
    events = await store.read_stream("agreement-a")
    assert [e.version for e in events] == [1, 2]
    assert [e.type for e in events] == ["AgreementSigned", "AgreementEndorsed"]
    assert msgspec.json.decode(events[0].metadata) == {"actor": "tester", "correlation_id": "c-1"}
    assert events[0].occurred_at == "2022-12-06T10:00:00.000000Z"
    assert msgspec.json.decode(events[0].data)["parties"][0]["organisation"] == "imec"
    assert events[0].recorded_at <= events[1].recorded_at
    assert await store.stream_version("agreement-a") == 2
    assert await store.head() == 2


async def test_wrong_expected_version_is_refused_and_burns_no_position(store: EventStore) -> None:
    await store.append("agreement-a", [signed()], expected_version=0, metadata=ACTOR)
    with pytest.raises(WrongExpectedVersion) as refused:
        await store.append("agreement-a", [endorsed()], expected_version=0, metadata=ACTOR)
    assert refused.value.current_version == 1
    with pytest.raises(WrongExpectedVersion):
        await store.append("agreement-a", [endorsed()], expected_version=5, metadata=ACTOR)
    assert await store.head() == 1
    result = await store.append("agreement-b", [signed()], expected_version="any", metadata=ACTOR)
    assert result.from_position == 2
    result = await store.append("agreement-a", [endorsed()], expected_version=1, metadata=ACTOR)
    assert (result.from_version, result.from_position) == (2, 3)


async def test_retried_batch_returns_the_original_result(store: EventStore) -> None:
    batch = [signed(event_id=str(uuid.uuid4())), endorsed(event_id=str(uuid.uuid4()))]
    first = await store.append("agreement-a", batch, expected_version=0, metadata=ACTOR)
    again = await store.append("agreement-a", batch, expected_version=0, metadata=ACTOR)
    assert not again.created
    assert (again.from_position, again.to_position) == (first.from_position, first.to_position)
    assert (again.from_version, again.to_version) == (1, 2)
    assert await store.head() == 2


async def test_same_id_with_other_content_or_partial_batch_conflicts(store: EventStore) -> None:
    event_id = str(uuid.uuid4())
    await store.append("agreement-a", [signed(event_id=event_id)], metadata=ACTOR)
    with pytest.raises(IdempotencyConflict):
        await store.append("agreement-a", [signed("other", event_id=event_id)], metadata=ACTOR)
    with pytest.raises(IdempotencyConflict):
        await store.append(
            "agreement-a",
            [signed(event_id=event_id), endorsed(event_id=str(uuid.uuid4()))],
            metadata=ACTOR,
        )
    with pytest.raises(IdempotencyConflict):
        await store.append("agreement-b", [signed(event_id=event_id)], metadata=ACTOR)
    assert await store.head() == 1


async def test_batch_is_all_or_nothing(store: EventStore) -> None:
    with pytest.raises(RuleViolation) as refused:
        await store.append("agreement-a", [endorsed(), signed()], metadata=ACTOR)
    assert refused.value.rule == "stream_must_start_with_signing"
    assert await store.head() == 0
    assert await store.read_stream("agreement-a") == []
    await store.append("agreement-a", [signed()], metadata=ACTOR)
    with pytest.raises(RuleViolation) as refused:
        await store.append("agreement-a", [endorsed(), signed()], metadata=ACTOR)
    assert refused.value.rule == "already_signed"
    assert await store.head() == 1


async def test_invalid_data_is_refused_with_a_json_path(store: EventStore) -> None:
    body = (
        b'{"kind":"MoC","title":"x","signed_on":"2022-12-06","parties":'
        b'[{"organisation":"a"},{"organisation":"b","signatory":{"name":7}}]}'
    )
    with pytest.raises(ValidationFailed) as refused:
        await store.append(
            "agreement-a",
            [Proposed(type="AgreementSigned", data=body, occurred_at=WHEN)],
            metadata=ACTOR,
        )
    assert refused.value.errors[0].path == "$.events[0].data.parties[1].signatory.name"
    with pytest.raises(ValidationFailed) as refused:
        await store.append(
            "agreement-a",
            [Proposed(type="Nonsense", data=b"{}", occurred_at=WHEN)],
            metadata=ACTOR,
        )
    assert refused.value.errors[0].path == "$.events[0].type"
    with pytest.raises(RuleViolation) as invalid_id:
        await store.append("agreement-../x", [signed()], metadata=ACTOR)
    assert invalid_id.value.rule == "invalid_stream_id"
    assert await store.head() == 0


async def test_hash_chain_links_every_event(store: EventStore) -> None:
    for name in "abc":
        await store.append(f"agreement-{name}", [signed(), endorsed()], metadata=ACTOR)
    events = await store.read_all()
    assert [e.position for e in events] == list(range(1, 7))
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    assert all(event_hash(e) == e.hash for e in events)


async def test_read_all_filters(store: EventStore) -> None:
    await store.append("agreement-a", [signed(), endorsed()], metadata=ACTOR)
    await store.append("agreement-b", [signed()], metadata=ACTOR)
    assert [e.position for e in await store.read_all(after=1, limit=1)] == [2]
    assert [e.position for e in await store.read_all(types=["AgreementSigned"])] == [1, 3]
    assert [e.position for e in await store.read_all(until=2)] == [1, 2]
    assert len(await store.read_all(category="agreement")) == 3
    assert await store.read_all(category="delegation") == []
    assert [e.version for e in await store.read_stream("agreement-a", after_version=1)] == [2]
    assert await store.read_stream("agreement-zzz") == []
    assert await store.stream_version("agreement-zzz") == 0


async def test_concurrent_appends_keep_positions_gapless(store: EventStore) -> None:
    streams = [f"agreement-s{i}" for i in range(10)]
    await asyncio.gather(*(store.append(s, [signed()], metadata=ACTOR) for s in streams))
    # Five writers race for version 2 of each stream: exactly one wins each race.
    attempts = [
        store.append(s, [endorsed(f"e{k}")], expected_version=1, metadata=ACTOR)
        for s in streams
        for k in range(5)
    ]
    outcomes = await asyncio.gather(*attempts, return_exceptions=True)
    wins = [o for o in outcomes if not isinstance(o, BaseException)]
    losses = [o for o in outcomes if isinstance(o, WrongExpectedVersion)]
    assert len(wins) == 10 and len(losses) == 40
    events = await store.read_all()
    assert [e.position for e in events] == list(range(1, 21))
    for stream in streams:
        assert [e.version for e in await store.read_stream(stream)] == [1, 2]


async def test_stored_events_cannot_be_updated_or_deleted(store: EventStore) -> None:
    await store.append("agreement-a", [signed()], metadata=ACTOR)
    for statement in ("UPDATE events SET type = 'X'", "DELETE FROM events"):
        with pytest.raises(DBAPIError):
            async with store.engine.begin() as connection:
                await connection.execute(text(statement))
    assert [e.type for e in await store.read_all()] == ["AgreementSigned"]


async def test_rules_hold_after_reopening(store: EventStore) -> None:
    await store.append("agreement-a", [signed()], metadata=ACTOR)
    url = store.engine.url.render_as_string(hide_password=False)
    await store.close()
    reopened = await open_store(url)
    try:
        with pytest.raises(RuleViolation) as refused:
            await reopened.append("agreement-a", [signed()], metadata=ACTOR)
        assert refused.value.rule == "already_signed"
        result = await reopened.append("agreement-a", [endorsed()], metadata=ACTOR)
        assert result.from_position == 2
    finally:
        await reopened.close()
    store.engine = reopened.engine  # let the fixture's close() find a live-or-disposed engine


async def test_corrections_find_their_event_after_reopening(store: EventStore) -> None:
    signing = "7a1c2e3f-4b5d-4e6f-8a9b-0c1d2e3f4a5b"
    await store.append("agreement-a", [signed(event_id=signing)], metadata=ACTOR)
    url = store.engine.url.render_as_string(hide_password=False)
    await store.close()
    reopened = await open_store(url)  # the writer folds the stream from the log, with its ids

    def corrected(title: str) -> Proposed:
        changes = msgspec.json.encode(
            {"corrects": signing, "changes": {"title": title}, "reason": "r"}
        )
        return Proposed(type="EventCorrected", data=changes)

    try:
        await reopened.append("agreement-a", [corrected("MoC on chips")], metadata=ACTOR)
        with pytest.raises(RuleViolation) as refused:
            await reopened.append("agreement-a", [corrected("MoC on chips")], metadata=ACTOR)
        assert refused.value.rule == "correction_changes_nothing"
    finally:
        await reopened.close()
    store.engine = reopened.engine


async def test_a_dropped_writer_connection_is_retried_once(store: EventStore) -> None:
    if store.dialect != "postgresql":
        pytest.skip("the database dropping a connection under the writer is a PostgreSQL case")
    await store.append("agreement-a", [signed()], metadata=ACTOR)
    async with store.engine.connect() as connection:
        await connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    result = await store.append("agreement-a", [endorsed()], metadata=ACTOR)
    assert (result.from_position, result.created) == (2, True)
    assert [e.position for e in await store.read_all()] == [1, 2]


async def test_listeners_hear_commits_and_stream_filters_hold(store: EventStore) -> None:
    heard_all: list[int] = []
    heard_b: list[int] = []
    store.add_listener(heard_all.append)
    store.add_listener(heard_b.append, streams=frozenset({"agreement-b"}))
    await store.append("agreement-a", [signed()], metadata=ACTOR)
    with pytest.raises(RuleViolation):  # refused: nothing committed, nobody told
        await store.append("agreement-a", [signed()], metadata=ACTOR)
    await store.append("agreement-b", [signed()], metadata=ACTOR)
    assert set(heard_all) == {1, 2}  # PostgreSQL may also tell of them again, by NOTIFY
    assert 2 in heard_b
    if store.dialect == "sqlite":  # a NOTIFY does not say which streams a commit touched
        assert 1 not in heard_b
