"""Erasing a person at the storage level: gone from the rows and the files, every proof still
valid, nobody else touched. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import signal
import sys
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import insert, select, text, update

from events import merkle
from events.audit import verify_store
from events.backup import backup
from events.catalogue import (
    AgreementSigned,
    AgreementWitnessed,
    NoteAttached,
    Owner,
    Party,
    Person,
    ResponsibilityAssigned,
)
from events.envelope import Metadata, Proposed, RecordedEvent
from events.erasure import (
    UnknownNote,
    UnknownPerson,
    erase,
    erase_note,
    people,
    streams_to_refold,
)
from events.errors import ValidationFailed
from events.export import read_jsonl, write_jsonl
from events.personal import person_id
from events.schema import erasures_in_progress, log_secrets
from events.schema import events as events_table
from events.signed_checkpoints import generate_key
from events.store import EventStore, open_store
from events.tree_audit import StoredLogTree
from events.verification import verify_against_checkpoint, verify_chain
from tests._databases import BACKENDS, database

ROOT = Path(__file__).resolve().parent.parent

ERASED_NAME = "Hélène Quatremer-Ødegård"
ERASED_TITLE = "Counsellor for Fisheries"
OTHER_NAME = "Bartholomew Second"
ACTOR = Metadata(actor="clerk")
DPO = Metadata(actor="dpo@agency")
DAY = dt.date(2025, 3, 1)


def _signed(*signatories: Person) -> Proposed:
    parties = [Party(organisation=f"Org {i}", signatory=p) for i, p in enumerate(signatories)]
    parties += [Party(organisation="Port authority")] * (2 - len(parties))
    data = AgreementSigned(kind="MoU", title="Fisheries", parties=parties, signed_on=DAY)
    return Proposed(type="AgreementSigned", data=data)


async def record_history(store: EventStore) -> None:
    helene = Person(name=ERASED_NAME, title=ERASED_TITLE, organisation="Ministry of the Sea")
    other = Person(name=OTHER_NAME, title="Mayor")
    await store.append("agreement-a", [_signed(helene, other)], metadata=ACTOR)
    await store.append(
        "agreement-a",
        [
            Proposed(
                type="AgreementWitnessed",
                data=AgreementWitnessed(witness=Person(name=ERASED_NAME), witnessed_on=DAY),
            ),
            Proposed(type="NoteAttached", data=NoteAttached(text="Lunch with the harbour master")),
        ],
        metadata=ACTOR,
    )
    await store.append("agreement-b", [_signed(other)], metadata=ACTOR)
    await store.append(
        "agreement-b",
        [
            Proposed(
                type="ResponsibilityAssigned",
                data=ResponsibilityAssigned(
                    owner=Owner(unit="Fisheries desk", person=Person(name=ERASED_NAME)),
                    assigned_by="Director",
                    assigned_on=DAY,
                ),
            )
        ],
        metadata=ACTOR,
    )


async def id_of(store: EventStore, name: str) -> str:
    async with store.engine.connect() as connection:
        secret = (await connection.execute(select(log_secrets.c.secret))).scalar_one()
    return person_id(bytes(secret), name)


async def everything(store: EventStore) -> list[RecordedEvent]:
    return await store.read_all(limit=100_000)


def exported(events: list[RecordedEvent]) -> bytes:
    buffer = io.BytesIO()
    write_jsonl(events, buffer)
    return buffer.getvalue()


async def test_an_erasure_removes_the_person_and_keeps_every_proof(store: EventStore) -> None:
    await record_history(store)
    tree = StoredLogTree(store)
    key = generate_key()
    await tree.refresh()
    kept = await tree.checkpoint(key)
    before = await everything(store)
    old_export = exported(before)
    assert ERASED_NAME.encode() in old_export
    helene = await id_of(store, ERASED_NAME)

    result = await erase(
        store, helene, legal_basis="GDPR Art. 17(1)(a)", reason="asked", metadata=DPO
    )

    assert result.created
    after = await everything(store)
    assert len(after) == len(before) + 1
    recorded = after[-1]
    assert (recorded.stream_id, recorded.type, recorded.position) == (
        f"person-{helene}",
        "PersonalDataErased",
        result.position,
    )
    assert msgspec.json.decode(recorded.metadata)["actor"] == "dpo@agency"
    new_export = exported(after)
    for trace in (ERASED_NAME, ERASED_TITLE, "Ministry of the Sea"):
        assert trace.encode() not in new_export
    assert f"[erased {helene}]".encode() in new_export
    # the other person, the note and every event not naming her are untouched
    assert OTHER_NAME.encode() in new_export and b"harbour master" in new_export
    for old, new in zip(before, after, strict=False):
        if ERASED_NAME.encode() not in bytes(old.data):
            assert new == old
        else:
            assert new.hash == old.hash and new.prev_hash == old.prev_hash
    first = msgspec.json.decode(after[0].data)
    assert first["parties"][1]["signatory"] == {"name": OTHER_NAME, "title": "Mayor"}
    assert first["parties"][0]["signatory"] == {
        "name": f"[erased {helene}]",
        "title": "[erased]",
        "organisation": "[erased]",
    }

    # every proof still holds
    assert (await verify_store(store)).ok
    assert (await verify_store(store, checkpoint=kept)).ok
    await tree.refresh()
    new = await tree.checkpoint(key)
    proof = await tree.consistency(kept.size, new.size)
    assert merkle.verify_consistency(
        kept.size,
        new.size,
        bytes.fromhex(kept.merkle_root),
        bytes.fromhex(new.merkle_root),
        proof,
    )
    # the old export still verifies offline, and is the prefix the new checkpoint signs
    old_events = list(read_jsonl(io.BytesIO(old_export)))
    old_report = verify_chain(old_events, checkpoint=kept)
    assert old_report.ok and old_report.checkpoint == kept
    assert verify_against_checkpoint(old_report, kept, key.public_key()).ok
    new_report = verify_chain(read_jsonl(io.BytesIO(new_export)), checkpoint=new)
    assert new_report.ok
    assert verify_against_checkpoint(new_report, new, key.public_key()).ok
    old_leaves = [bytes.fromhex(e.hash) for e in old_events]
    assert merkle.root(old_leaves).hex() == kept.merkle_root

    assert await streams_to_refold(store, helene) == ["agreement-a", "agreement-b"]
    listed = {p.person_id: p for p in await people(store)}
    assert listed[helene].erased and not listed[await id_of(store, OTHER_NAME)].erased


async def test_erasing_twice_records_once(store: EventStore) -> None:
    await record_history(store)
    helene = await id_of(store, ERASED_NAME)
    first = await erase(store, helene, legal_basis="Art. 17", reason="asked", metadata=DPO)
    head = await store.head()
    again = await erase(store, helene, legal_basis="Art. 17", reason="asked", metadata=DPO)
    assert (again.position, again.created) == (first.position, False)
    assert await store.head() == head
    assert (await verify_store(store)).ok


async def test_a_person_named_again_after_an_erasure_can_be_erased_again(
    store: EventStore,
) -> None:
    await record_history(store)
    helene = await id_of(store, ERASED_NAME)
    await erase(store, helene, legal_basis="Art. 17", reason="asked", metadata=DPO)
    await store.append("agreement-c", [_signed(Person(name=ERASED_NAME))], metadata=ACTOR)
    second = await erase(store, helene, legal_basis="Art. 17", reason="again", metadata=DPO)
    assert second.created
    assert ERASED_NAME.encode() not in exported(await everything(store))
    assert (await verify_store(store)).ok


async def test_an_unknown_person_or_a_bad_reason_changes_nothing(store: EventStore) -> None:
    await record_history(store)
    head = await store.head()
    with pytest.raises(UnknownPerson):
        await erase(store, "0" * 32, legal_basis="Art. 17", reason="asked", metadata=DPO)
    helene = await id_of(store, ERASED_NAME)
    with pytest.raises(ValidationFailed):
        await erase(store, helene, legal_basis="", reason="asked", metadata=DPO)
    assert await store.head() == head
    assert ERASED_NAME.encode() in exported(await everything(store))


async def test_the_log_refuses_every_other_update(store: EventStore) -> None:
    await record_history(store)
    async with store.engine.connect() as connection:
        with pytest.raises(Exception, match="append-only"):
            async with connection.begin():
                await connection.execute(
                    update(events_table).where(events_table.c.position == 1).values(data=b"{}")
                )
        # even during an erasure, only `data`, and only at the positions being erased
        for column, position in (("hash", 1), ("metadata", 1), ("data", 2)):
            with pytest.raises(Exception, match="append-only"):
                async with connection.begin():
                    await connection.execute(insert(erasures_in_progress).values(position=1))
                    await connection.execute(
                        update(events_table)
                        .where(events_table.c.position == position)
                        .values({column: b"{}" if column != "hash" else "0" * 64})
                    )
        with pytest.raises(Exception, match="append-only"):
            async with connection.begin():
                await connection.execute(text("DELETE FROM events WHERE position = 1"))
    assert (await verify_store(store)).ok


_CRASH_IN_THE_MIDDLE = """
import asyncio, os, signal, sys
from events import erasure
from events.envelope import Metadata
from events.store import open_store

rewrite = erasure._rewrite

def rewrite_then_die(connection, *, person_id, streams):
    # the rows are rewritten, the transaction not committed
    rewrite(connection, person_id=person_id, streams=streams)
    os.kill(os.getpid(), signal.SIGKILL)

erasure._rewrite = rewrite_then_die

async def main():
    store = await open_store(sys.argv[1])
    await erasure.erase(store, sys.argv[2], legal_basis="Art. 17", reason="asked",
                        metadata=Metadata(actor="dpo"))

asyncio.run(main())
"""


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_process_killed_in_the_middle_of_an_erasure_leaves_it_undone(
    backend: str, tmp_path: Path
) -> None:
    async with database(backend, tmp_path) as url:
        store = await open_store(url)
        try:
            await record_history(store)
            helene = await id_of(store, ERASED_NAME)
            before = await everything(store)
        finally:
            await store.close()

        crashed = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CRASH_IN_THE_MIDDLE,
            url,
            helene,
            cwd=ROOT,
            stderr=asyncio.subprocess.PIPE,
        )
        _, errors = await asyncio.wait_for(crashed.communicate(), 120)
        assert crashed.returncode == -signal.SIGKILL, errors.decode()

        store = await open_store(url)
        try:
            assert await everything(store) == before
            assert (await verify_store(store)).ok
            result = await erase(store, helene, legal_basis="Art. 17", reason="x", metadata=DPO)
            assert result.created
            assert ERASED_NAME.encode() not in exported(await everything(store))
        finally:
            await store.close()


async def test_no_byte_of_the_name_is_left_in_the_sqlite_files(tmp_path: Path) -> None:
    path = tmp_path / "agreements.db"
    url = f"sqlite+aiosqlite:///{path}"
    store = await open_store(url)
    try:
        await record_history(store)
        for _ in range(30):  # enough for some pages to reach the database file itself
            await store.append("agreement-a", [_note()], metadata=ACTOR)
        early = tmp_path / "before.db"
        await backup(url, early)
        assert _traces(path, early)  # the test can see a name where there is one
        helene = await id_of(store, ERASED_NAME)
        result = await erase(store, helene, legal_basis="Art. 17", reason="asked", metadata=DPO)
        assert result.files_scrubbed
        later = tmp_path / "after.db"
        await backup(url, later)
        assert not _traces(path, Path(f"{path}-wal"), later)
        assert OTHER_NAME.encode() in path.read_bytes() + later.read_bytes()
    finally:
        await store.close()
    assert not _traces(path, Path(f"{path}-wal"))


def _note() -> Proposed:
    return Proposed(type="NoteAttached", data=NoteAttached(text="x" * 3000))


def _traces(*files: Path) -> list[str]:
    found = []
    for file in files:
        raw = file.read_bytes() if file.exists() else b""
        for trace in (ERASED_NAME, ERASED_TITLE):
            if trace.encode() in raw:
                found.append(f"{trace} in {file.name}")
    return found


async def test_a_note_is_erased_by_event(store: EventStore) -> None:
    await record_history(store)
    tree = StoredLogTree(store)
    key = generate_key()
    await tree.refresh()
    kept = await tree.checkpoint(key)
    before = await everything(store)
    note = next(e for e in before if e.type == "NoteAttached")

    result = await erase_note(
        store, note.event_id, legal_basis="Art. 17", reason="asked", metadata=DPO
    )

    assert result.created
    after = await everything(store)
    assert b"harbour master" not in exported(after)
    assert msgspec.json.decode(after[note.position - 1].data) == {"text": "[erased]"}
    assert after[-1].type == "NoteErased" and after[-1].stream_id == "erasure-notes"
    assert [e for e in after[:-1] if e.position != note.position] == [
        e for e in before if e.position != note.position
    ]
    assert (await verify_store(store, checkpoint=kept)).ok
    again = await erase_note(store, note.event_id, legal_basis="x", reason="y", metadata=DPO)
    assert (again.created, again.position) == (False, result.position)
    with pytest.raises(UnknownNote):
        await erase_note(store, before[0].event_id, legal_basis="x", reason="y", metadata=DPO)
