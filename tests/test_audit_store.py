"""Audit over a real store: bounded verification with resume, the in-memory Merkle tree of the
log (checkpoints, consistency and inclusion proofs), and the signing key file."""

from __future__ import annotations

import datetime as dt
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from events import merkle, signed_checkpoints
from events.audit import (
    DEFAULT_KEY_FILE,
    LogBroken,
    LogTree,
    load_signing_key,
    resume_hash,
    signing_key_path,
    verify_store,
)
from events.catalogue import NoteAttached
from events.envelope import GENESIS_HASH, Metadata, Proposed, RecordedEvent
from events.store import EventStore, open_store
from events.verification import verify_against_checkpoint, verify_chain
from service.demo import DEMO_ACTOR, SEED

SEED_EVENTS = sum(len(events) for _, events in SEED)
NOTE_STREAM = "agreement-imec-rapidus-2022"
WHEN = dt.datetime(2023, 1, 15, 9, 0, tzinfo=dt.UTC)


async def fill_store(store: EventStore, notes: int = 6) -> int:
    """The demo seed and then `notes` follow-up notes, one append each; returns the head."""
    for stream_id, events in SEED:
        await store.append(stream_id, events, metadata=Metadata(actor=DEMO_ACTOR))
    await add_notes(store, notes)
    return await store.head()


async def add_notes(store: EventStore, count: int, *, start: int = 0) -> None:
    for number in range(start, start + count):
        note = Proposed(
            type="NoteAttached",
            data=NoteAttached(text=f"Follow-up call number {number} with Rapidus"),
            occurred_at=WHEN + dt.timedelta(days=number),
        )
        await store.append(
            NOTE_STREAM, [note], metadata=Metadata(actor="tokyo-desk", correlation_id=f"n{number}")
        )


async def all_events(store: EventStore) -> list[RecordedEvent]:
    return await store.read_all(limit=1_000_000)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EventStore]:
    opened = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'agreements.db'}")
    try:
        yield opened
    finally:
        await opened.close()


# --- verify_store ----------------------------------------------------------------------------


async def test_a_clean_log_verifies_with_its_merkle_root(store: EventStore) -> None:
    head = await fill_store(store)
    assert head == SEED_EVENTS + 6
    events = await all_events(store)

    report = await verify_store(store, batch_size=4)

    assert report.ok
    assert (report.checked, report.head_position) == (head, head)
    assert report.head_hash == events[-1].hash
    assert report.merkle_root == merkle.root([bytes.fromhex(e.hash) for e in events]).hex()
    # The same answer as the pure library over the same events in one go.
    assert report == verify_chain(events)


async def test_an_empty_log_verifies(store: EventStore) -> None:
    report = await verify_store(store)
    assert report.ok
    assert (report.checked, report.head_position, report.head_hash) == (0, 0, GENESIS_HASH)
    assert report.merkle_root == merkle.EMPTY_ROOT.hex()


async def test_a_bounded_scan_resumes_where_it_stopped(store: EventStore) -> None:
    head = await fill_store(store)
    first = await verify_store(store, limit=5, batch_size=2)
    assert first.ok
    assert (first.checked, first.head_position) == (5, 5)

    position, prev, checked = first.head_position, first.head_hash, first.checked
    while position < head:
        step = await verify_store(
            store, start_position=position + 1, start_prev_hash=prev, limit=5, batch_size=3
        )
        assert step.ok
        assert step.checked <= 5
        position, prev, checked = step.head_position, step.head_hash, checked + step.checked
    assert checked == head
    assert prev == (await all_events(store))[-1].hash


async def test_a_resumed_scan_with_the_wrong_hash_breaks_at_its_first_position(
    store: EventStore,
) -> None:
    await fill_store(store)
    report = await verify_store(store, start_position=4, start_prev_hash="ab" * 32)
    assert not report.ok
    assert report.first_broken_position == 4


async def test_resume_hash_reads_the_stored_hash(store: EventStore) -> None:
    await fill_store(store)
    events = await all_events(store)
    assert await resume_hash(store, 0) == GENESIS_HASH
    assert await resume_hash(store, 3) == events[2].hash
    assert await resume_hash(store, len(events) + 1) is None


async def test_a_scan_stops_at_the_head_it_started_with(store: EventStore) -> None:
    head = await fill_store(store)
    report = await verify_store(store, until=head - 2)
    assert report.ok
    assert report.head_position == head - 2


# --- LogTree ---------------------------------------------------------------------------------


async def test_the_tree_loads_lazily_and_grows_with_the_log(store: EventStore) -> None:
    tree = LogTree()
    assert tree.size == 0
    assert tree.root() == merkle.EMPTY_ROOT
    head = await fill_store(store)
    assert tree.size == 0  # nothing is read until asked

    assert await tree.refresh(store, batch_size=4) == head
    events = await all_events(store)
    assert tree.root() == merkle.root([bytes.fromhex(e.hash) for e in events])
    assert tree.head_hash == events[-1].hash

    await add_notes(store, 3, start=100)
    assert await tree.refresh(store) == head + 3
    events = await all_events(store)
    assert tree.root() == merkle.root([bytes.fromhex(e.hash) for e in events])
    assert tree.leaf(head + 1) == bytes.fromhex(events[head].hash)


async def test_checkpoint_then_append_then_consistency_proof_verifies_against_both_signed_roots(
    store: EventStore,
) -> None:
    key = signed_checkpoints.generate_key()
    public = key.public_key()
    tree = LogTree()
    await fill_store(store)
    await tree.refresh(store)
    old = tree.checkpoint(key)
    assert signed_checkpoints.verify_checkpoint(old, public)

    await add_notes(store, 9, start=50)
    await tree.refresh(store)
    new = tree.checkpoint(key)
    assert new.size == old.size + 9
    assert signed_checkpoints.verify_checkpoint(new, public)

    proof = tree.consistency(old.size, new.size)
    assert merkle.verify_consistency(
        old.size,
        new.size,
        bytes.fromhex(old.merkle_root),
        bytes.fromhex(new.merkle_root),
        proof,
    )
    # The proof is for these two logs only: it fails against a root from another log.
    forged_root = merkle.root([b"\x00" * 32] * old.size)
    assert not merkle.verify_consistency(
        old.size, new.size, forged_root, bytes.fromhex(new.merkle_root), proof
    )
    # Both checkpoints also hold against a full scan of the database.
    for kept in (old, new):
        report = await verify_store(store, checkpoint=kept)
        assert verify_against_checkpoint(report, kept, public).ok


async def test_inclusion_proofs_verify_for_every_event(store: EventStore) -> None:
    tree = LogTree()
    head = await fill_store(store)
    await tree.refresh(store)
    events = await all_events(store)
    for size in (1, head // 2, head):
        root = tree.root(size)
        for event in events[:size]:
            proof = tree.inclusion(event.position, size)
            assert merkle.verify_inclusion(
                bytes.fromhex(event.hash), event.position - 1, size, proof, root
            )


async def test_proofs_outside_the_tree_are_refused(store: EventStore) -> None:
    tree = LogTree()
    head = await fill_store(store)
    await tree.refresh(store)
    with pytest.raises(ValueError):
        tree.consistency(3, head + 1)
    with pytest.raises(ValueError):
        tree.consistency(5, 4)
    with pytest.raises(ValueError):
        tree.inclusion(head + 1, head)
    with pytest.raises(ValueError):
        tree.inclusion(0, head)


async def test_the_tree_refuses_to_grow_over_a_broken_log(store: EventStore) -> None:
    head = await fill_store(store)
    async with store.engine.begin() as connection:
        await connection.execute(text("DROP TRIGGER events_append_only_update"))
        await connection.execute(
            text("UPDATE events SET data = CAST(:data AS BLOB) WHERE position = :p"),
            {"data": b'{"text":"forged"}', "p": head - 2},
        )
    tree = LogTree()
    with pytest.raises(LogBroken) as caught:
        await tree.refresh(store, batch_size=4)
    assert caught.value.report.first_broken_position == head - 2
    assert tree.size == head - 3  # everything before the break verified and is kept


# --- the signing key -------------------------------------------------------------------------


def test_the_signing_key_is_created_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    created = load_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_signing_key(path)
    assert signed_checkpoints.key_id(again) == signed_checkpoints.key_id(created)
    assert [p.name for p in path.parent.iterdir()] == ["signing.pem"]  # no temporary left


def test_the_signing_key_lives_beside_the_sqlite_database_unless_configured(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'agreements.db'}"
    assert signing_key_path(url, env={}) == tmp_path / "data" / DEFAULT_KEY_FILE
    assert signing_key_path(url, env={"AGREEMENTS_SIGNING_KEY": "/k.pem"}) == Path("/k.pem")
    assert signing_key_path(url, "/x.pem", env={"AGREEMENTS_SIGNING_KEY": "/k.pem"}) == Path(
        "/x.pem"
    )
    assert signing_key_path("postgresql+asyncpg://h/db", env={}) == Path(DEFAULT_KEY_FILE)
