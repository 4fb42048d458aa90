"""Property: whatever is appended and whoever is erased, in any order, the log verifies at every
step, against every checkpoint taken before, and no erased name is left in any event."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import merkle
from events.audit import verify_store
from events.catalogue import (
    AgreementSigned,
    AgreementWitnessed,
    NoteAttached,
    Party,
    Person,
)
from events.envelope import Metadata, Proposed
from events.erasure import erase, people
from events.signed_checkpoints import generate_key
from events.store import EventStore, open_store
from events.tree_audit import StoredLogTree
from tests.test_erasure import everything, exported, id_of

pytestmark = pytest.mark.slow

NAMES = ["Aiko Tanaka", "Zoë Lindqvist", "佐藤花子", "Jean-Luc Ødegård", "Ana Núñez"]
KEY = generate_key()
DAY = dt.date(2025, 3, 1)
_streams = itertools.count()

_person = st.builds(
    Person,
    name=st.sampled_from(NAMES),
    title=st.none() | st.sampled_from(["Counsellor", "Mayor"]),
    organisation=st.none() | st.just("Ministry"),
)
_step = st.one_of(
    st.tuples(st.just("sign"), st.lists(_person, min_size=1, max_size=3)),
    st.tuples(st.just("witness"), _person),
    st.tuples(st.just("note"), st.sampled_from(NAMES)),
    st.tuples(st.just("erase"), st.sampled_from(NAMES)),
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EventStore]:
    opened = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'agreements.db'}")
    try:
        yield opened
    finally:
        await opened.close()


@settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(_step, min_size=1, max_size=8))
async def test_proofs_hold_at_every_step_of_any_history(
    store: EventStore, steps: list[tuple[str, object]]
) -> None:
    tree = StoredLogTree(store)
    await tree.refresh()
    kept = [await tree.checkpoint(KEY)]
    erased: set[str] = set()
    stream = f"agreement-p{next(_streams)}"
    for action, argument in steps:
        match action, argument:
            case "sign", list() as signatories:
                parties = [
                    Party(organisation=f"Org {i}", signatory=p) for i, p in enumerate(signatories)
                ]
                parties += [Party(organisation="Port")] * (2 - len(parties))
                data = AgreementSigned(kind="MoU", title="T", parties=parties, signed_on=DAY)
                stream = f"agreement-p{next(_streams)}"
                await store.append(
                    stream, [Proposed(type="AgreementSigned", data=data)], metadata=_ACTOR
                )
            case "witness", Person() as witness:
                if await store.stream_version(stream):
                    event = AgreementWitnessed(witness=witness, witnessed_on=DAY)
                    await store.append(
                        stream, [Proposed(type="AgreementWitnessed", data=event)], metadata=_ACTOR
                    )
            case "note", str() as name:
                if await store.stream_version(stream):
                    note = NoteAttached(text=f"Called {name}")
                    await store.append(
                        stream, [Proposed(type="NoteAttached", data=note)], metadata=_ACTOR
                    )
            case "erase", str() as name:
                person = await id_of(store, name)
                if person in {p.person_id for p in await people(store)}:
                    await erase(store, person, legal_basis="Art. 17", reason="r", metadata=_ACTOR)
                    erased.add(name)
        erased -= {n for n in erased if _named_since(n, action, argument)}
        assert (await verify_store(store)).ok
        await tree.refresh()
        newest = await tree.checkpoint(KEY)
        for old in kept:
            assert (await verify_store(store, checkpoint=old)).ok
            proof = await tree.consistency(old.size, newest.size)
            assert merkle.verify_consistency(
                old.size,
                newest.size,
                bytes.fromhex(old.merkle_root),
                bytes.fromhex(newest.merkle_root),
                proof,
            )
        kept.append(newest)
    log = exported(await everything(store))
    for name in erased:
        # only notes (erased by event, not by person) may still say the name
        assert log.count(name.encode()) == log.count(f"Called {name}".encode())


def _named_since(name: str, action: str, argument: object) -> bool:
    """Whether this step named `name` again (after which it is held again until erased)."""
    if action == "sign" and isinstance(argument, list):
        return any(p.name == name for p in argument)
    return action == "witness" and isinstance(argument, Person) and argument.name == name


_ACTOR = Metadata(actor="clerk")
