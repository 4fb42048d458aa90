"""An attacker with write access to the database edits the log behind the service's back; the
audit must say where. The append-only triggers are switched off first, as such an attacker
would. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import delete, insert, select, text, update

from events import signed_checkpoints
from events.audit import LogTree, verify_store
from events.envelope import RecordedEvent
from events.hashing import event_hash
from events.schema import events as events_table
from events.schema import personal_values
from events.store import EventStore, open_store
from events.verification import verify_against_checkpoint
from tests._databases import BACKENDS, database
from tests.test_audit_store import fill_store

C = events_table.c


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EventStore]:
    async with database(request.param, tmp_path) as url:
        opened = await open_store(url)
        try:
            await fill_store(opened, notes=8)
            yield opened
        finally:
            await opened.close()


# --- the attacker's tools --------------------------------------------------------------------


async def unguard(store: EventStore) -> None:
    """Remove what stops UPDATE and DELETE on the log."""
    async with store.engine.begin() as connection:
        if store.dialect == "sqlite":
            for op in ("update", "delete"):
                await connection.execute(text(f"DROP TRIGGER events_append_only_{op}"))
        else:
            await connection.execute(text("ALTER TABLE events DISABLE TRIGGER ALL"))


async def row(store: EventStore, position: int) -> dict[str, Any]:
    """The row's columns, and under "personal" its personal values' disclosures (the forger
    reads `personal_values` too: the hash covers their commitments)."""
    async with store.engine.connect() as connection:
        found = (await connection.execute(select(events_table).where(C.position == position))).one()
    read = await store.read_all(after=position - 1, limit=1, until=position)
    return {**found._mapping, "personal": read[0].personal if read else ()}


def columns(values: dict[str, Any]) -> dict[str, Any]:
    """The values of the events table's columns only."""
    return {name: value for name, value in values.items() if name != "personal"}


def rehashed(values: dict[str, Any]) -> str:
    """The hash a forger who knows the chain rule computes for a row."""
    event = RecordedEvent(
        position=values["position"],
        event_id=values["event_id"],
        stream_id=values["stream_id"],
        version=values["version"],
        type=values["type"],
        schema_version=values["schema_version"],
        occurred_at=values["occurred_at"],
        recorded_at=values["recorded_at"],
        data=msgspec.Raw(bytes(values["data"])),
        metadata=msgspec.Raw(bytes(values["metadata"])),
        prev_hash=values["prev_hash"],
        hash="",
        personal=values.get("personal", ()),
    )
    return event_hash(event)


async def edit_data(store: EventStore, position: int, *, recompute_hash: bool = False) -> None:
    values = await row(store, position)
    data = msgspec.json.decode(bytes(values["data"]))
    data["summary"] = "Quietly amended after the fact."
    values["data"] = msgspec.json.encode(data)
    changes: dict[str, Any] = {"data": values["data"]}
    if recompute_hash:
        changes["hash"] = rehashed(values)
    async with store.engine.begin() as connection:
        await connection.execute(update(events_table).where(C.position == position).values(changes))


async def delete_rows(store: EventStore, first: int, last: int | None = None) -> None:
    async with store.engine.begin() as connection:
        where = C.position >= first if last is None else C.position.between(first, last)
        await connection.execute(delete(events_table).where(where))


async def swap_contents(store: EventStore, one: int, other: int) -> None:
    """Each of two rows takes the other's event: the log's order changes, positions do not."""
    a, b = await row(store, one), await row(store, other)
    async with store.engine.begin() as connection:
        await connection.execute(delete(events_table).where(C.position.in_([one, other])))
        await connection.execute(insert(events_table).values({**columns(b), "position": one}))
        await connection.execute(insert(events_table).values({**columns(a), "position": other}))


def forged_from(template: dict[str, Any], position: int, prev_hash: str) -> dict[str, Any]:
    forged = {
        **template,
        "position": position,
        "event_id": "00000000-0000-4000-8000-00000000f00d",
        "version": 999,
        "data": b'{"text":"A commitment nobody made"}',
        "prev_hash": prev_hash,
        "personal": (),
    }
    forged["hash"] = rehashed(forged)
    return forged


async def insert_row(store: EventStore, values: dict[str, Any]) -> None:
    async with store.engine.begin() as connection:
        await connection.execute(insert(events_table).values(columns(values)))


async def make_room(store: EventStore, position: int) -> None:
    """Move every row from `position` on one place up (in two steps: positions are unique),
    with its personal values."""
    async with store.engine.begin() as connection:
        for table in (events_table, personal_values):
            await connection.execute(
                update(table).where(table.c.position >= position).values(position=-table.c.position)
            )
            await connection.execute(
                update(table).where(table.c.position < 0).values(position=-table.c.position + 1)
            )


# --- the tests -------------------------------------------------------------------------------


async def test_a_clean_log_verifies(store: EventStore) -> None:
    report = await verify_store(store, batch_size=5)
    assert report.ok
    assert report.checked == await store.head()


async def test_an_edited_row_is_caught_at_its_position(store: EventStore) -> None:
    await unguard(store)
    await edit_data(store, 5)
    report = await verify_store(store, batch_size=3)
    assert not report.ok
    assert report.first_broken_position == 5
    assert "hash does not match its content" in (report.reason or "")
    assert report.head_position == 4  # the last row that verified


async def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link(
    store: EventStore,
) -> None:
    await unguard(store)
    await edit_data(store, 5, recompute_hash=True)
    report = await verify_store(store)
    assert not report.ok
    assert report.first_broken_position == 6
    assert "prev_hash does not link to position 5" in (report.reason or "")


async def test_a_deleted_middle_row_is_caught_at_its_position(store: EventStore) -> None:
    await unguard(store)
    await delete_rows(store, 7, 7)
    report = await verify_store(store, batch_size=4)
    assert not report.ok
    assert report.first_broken_position == 7
    assert "missing" in (report.reason or "")


async def test_swapped_rows_are_caught_at_the_first_of_them(store: EventStore) -> None:
    await unguard(store)
    await swap_contents(store, 4, 9)
    report = await verify_store(store)
    assert not report.ok
    assert report.first_broken_position == 4


async def test_adjacent_rows_swapped_are_caught(store: EventStore) -> None:
    await unguard(store)
    await swap_contents(store, 10, 11)
    report = await verify_store(store)
    assert not report.ok
    assert report.first_broken_position == 10


async def test_a_forged_row_appended_without_the_right_hash_is_caught(store: EventStore) -> None:
    head = await store.head()
    last = await row(store, head)
    forged = forged_from(last, head + 1, last["hash"])
    forged["hash"] = "ab" * 32
    await insert_row(store, forged)  # inserting needs no trigger removed
    report = await verify_store(store)
    assert not report.ok
    assert report.first_broken_position == head + 1


async def test_a_forged_row_slipped_into_the_middle_is_caught(store: EventStore) -> None:
    # The forger renumbers what follows and gives the forged row a correct hash over its
    # content: it verifies by itself, so the break shows where the real history resumes.
    await unguard(store)
    before = await row(store, 5)
    await make_room(store, 6)
    await insert_row(store, forged_from(before, 6, before["hash"]))
    report = await verify_store(store)
    assert not report.ok
    assert report.first_broken_position == 7
    assert "prev_hash does not link to position 6" in (report.reason or "")


async def test_a_forged_row_with_a_wrong_hash_is_caught_at_its_own_position(
    store: EventStore,
) -> None:
    await unguard(store)
    before = await row(store, 5)
    await make_room(store, 6)
    forged = forged_from(before, 6, before["hash"])
    forged["hash"] = "cd" * 32
    await insert_row(store, forged)
    report = await verify_store(store)
    assert not report.ok
    assert report.first_broken_position == 6


async def test_a_row_slipped_in_before_position_1_is_caught(store: EventStore) -> None:
    first = await row(store, 1)
    await insert_row(store, forged_from(first, 0, "0" * 64))
    report = await verify_store(store)
    assert not report.ok
    assert report.first_broken_position == 0


async def test_a_deleted_tail_is_caught_against_a_kept_checkpoint(store: EventStore) -> None:
    key = signed_checkpoints.generate_key()
    tree = LogTree()
    head = await tree.refresh(store)
    kept = tree.checkpoint(key)
    await unguard(store)
    await delete_rows(store, head - 2)

    # The chain alone cannot see a clean cut at the end...
    assert (await verify_store(store)).ok
    # ...the checkpoint the auditor kept can.
    report = await verify_store(store, checkpoint=kept)
    assert not report.ok
    assert report.first_broken_position == head - 2
    assert "checkpoint covers" in (report.reason or "")
    assert not verify_against_checkpoint(report, kept, key.public_key()).ok


async def test_a_rewritten_history_is_caught_against_a_kept_checkpoint(store: EventStore) -> None:
    # The forger edits position 4 and recomputes every hash after it: the chain is whole again.
    key = signed_checkpoints.generate_key()
    tree = LogTree()
    head = await tree.refresh(store)
    kept = tree.checkpoint(key)
    await unguard(store)
    await edit_data(store, 4, recompute_hash=True)
    prev = (await row(store, 4))["hash"]
    for position in range(5, head + 1):
        values = await row(store, position)
        values["prev_hash"] = prev
        prev = rehashed(values)
        async with store.engine.begin() as connection:
            await connection.execute(
                update(events_table)
                .where(C.position == position)
                .values(prev_hash=values["prev_hash"], hash=prev)
            )

    assert (await verify_store(store)).ok
    report = await verify_store(store, checkpoint=kept)
    assert not report.ok
    assert report.first_broken_position == kept.size
    # A server restarted on the rewritten database can sign the new history, but not one
    # that extends the checkpoint the auditor kept.
    fresh = LogTree()
    await fresh.refresh(store)
    assert fresh.root(kept.size).hex() != kept.merkle_root
