"""Only a correction that erases the original (`erase_original`) rewrites stored rows: an
ordinary correction is an ordinary event, and does not send the read side, the writer or
other instances down the rewrite path (caches and replays forgotten, decider states dropped,
files scrubbed). On SQLite and PostgreSQL."""

from __future__ import annotations

import msgspec
from sqlalchemy.engine import Connection

from events._writer import _rewritten_since
from events.catalogue import AgreementSigned, EventCorrected, Person, rewrites
from events.envelope import Metadata, Proposed
from events.store import EventStore
from projections.runner import ProjectionRunner
from projections.setup import prepare_tables
from tests.test_erasure import _signed

CLERK = Metadata(actor="clerk")
SIGNING = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"


def _correction(name: str, *, erase_original: bool = False) -> Proposed:
    """A correction of the first signatory's name (a party list is patched whole)."""
    signed = _signed(Person(name=name), Person(name="Bo Ek")).data
    assert isinstance(signed, AgreementSigned)
    data = EventCorrected(
        corrects=SIGNING,
        changes={"parties": msgspec.to_builtins(signed.parties)},
        reason="misspelt",
        erase_original=erase_original,
    )
    return Proposed(type="EventCorrected", data=data)


async def test_only_an_erasing_correction_takes_the_rewrite_path(store: EventStore) -> None:
    signing = _signed(Person(name="Ana Lyma"), Person(name="Bo Ek"))
    await store.append(
        "agreement-r",
        [Proposed(type=signing.type, data=signing.data, event_id=SIGNING)],
        metadata=CLERK,
    )
    await prepare_tables(store.engine)
    runner = ProjectionRunner(store)
    late = ProjectionRunner(store)  # another instance's runner, adopting the checkpoint
    forgotten: list[str] = []
    runner.add_rewrite_listener(lambda: forgotten.append("runner"))
    late.add_rewrite_listener(lambda: forgotten.append("late"))
    seen = await runner.catch_up()
    await late.refresh()
    # A runner's first look, from nothing, tells its listeners to forget (it searches no log).
    assert forgotten == ["late"]
    forgotten.clear()

    plain = await store.append("agreement-r", [_correction("Ana Lima")], metadata=CLERK)
    assert await runner.catch_up() == plain.to_position
    await late.refresh()
    assert forgotten == []  # nobody forgot anything for an ordinary correction
    assert not await _another_writer_sees_a_rewrite(store, seen, plain.to_position)

    erasing = await store.append(
        "agreement-r", [_correction("Ana Lina", erase_original=True)], metadata=CLERK
    )
    assert await runner.catch_up() == erasing.to_position
    await late.refresh()
    assert forgotten == ["runner", "late"]
    assert await _another_writer_sees_a_rewrite(store, plain.to_position, erasing.to_position)


async def _another_writer_sees_a_rewrite(store: EventStore, seen: int, head: int) -> bool:
    """What a writer that last saw `seen` concludes at `head`: True drops its decider states."""

    def look(connection: Connection) -> bool:
        with connection.begin():
            return _rewritten_since(connection, seen, head)

    return await store.run_write(look)


def test_rewrites_reads_the_flag_not_the_type() -> None:
    def data(**fields: object) -> bytes:
        body = {"corrects": "e", "changes": {"title": "x"}, "reason": "r", **fields}
        return msgspec.json.encode(body)

    assert not rewrites("EventCorrected", data())
    assert rewrites("EventCorrected", data(erase_original=True))
    # the words in a patch are not the flag
    assert not rewrites("EventCorrected", data(changes={"erase_original": True}))
    assert rewrites("PersonalDataErased", b"{}") and rewrites("NoteErased", b"{}")
    assert not rewrites("NoteAttached", data(erase_original=True))
