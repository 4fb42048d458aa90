"""A correction's `changes` may carry a person's name, title or organisation: those values are
personal values of the correction (salted commitments in the chain, tied to the person the
corrected event names), found the way the corrected event's own are. On SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from events.audit import verify_store
from events.catalogue import (
    AgreementWitnessed,
    DelegationFormed,
    EventCorrected,
    Person,
)
from events.envelope import Metadata, Proposed
from events.erasure import erase, mentions
from events.store import EventStore, open_store
from tests._databases import BACKENDS, database
from tests.test_erasure import _signed, id_of

CLERK = Metadata(actor="clerk")
DPO = Metadata(actor="dpo@agency")
DAY = dt.date(2025, 3, 1)
WITNESSED = "6a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
FORMED = "7b2e3d4c-5f6a-4b7c-9d8e-0f1a2b3c4d5e"


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EventStore]:
    async with database(request.param, tmp_path) as url:
        opened = await open_store(url)
        try:
            yield opened
        finally:
            await opened.close()


def _correction(corrects: str, changes: dict[str, object]) -> Proposed:
    data = EventCorrected(corrects=corrects, changes=changes, reason="recorded wrongly")
    return Proposed(type="EventCorrected", data=data)


def _signatures() -> Proposed:
    return _signed(Person(name="Ana Lima"), Person(name="Bo Ek"))


async def _witnessed(store: EventStore, name: str) -> None:
    await store.append("agreement-w", [_signatures()], metadata=CLERK)
    witnessed = AgreementWitnessed(witness=Person(name=name, title="Consul"), witnessed_on=DAY)
    await store.append(
        "agreement-w",
        [Proposed(type="AgreementWitnessed", data=witnessed, event_id=WITNESSED)],
        metadata=CLERK,
    )


async def test_a_title_correction_is_the_named_persons_value(store: EventStore) -> None:
    await _witnessed(store, "Mirela Constantinescu")
    done = await store.append(
        "agreement-w",
        [_correction(WITNESSED, {"witness": {"title": "Consul General"}})],
        metadata=CLERK,
    )
    mirela = await id_of(store, "Mirela Constantinescu")
    found = [(m.position, m.type, m.path, m.value) for m in await mentions(store, mirela)]
    assert (done.to_position, "EventCorrected", "/changes/witness/title", "Consul General") in (
        found
    )
    assert (await verify_store(store)).ok

    erased = await erase(store, mirela, legal_basis="Art. 17", reason="asked", metadata=DPO)
    assert erased.created
    (correction,) = await store.read_all(types=["EventCorrected"])
    assert b"Consul General" not in bytes(correction.data)
    assert b"[erased]" in bytes(correction.data)
    assert (await verify_store(store)).ok


async def test_a_corrected_name_belongs_to_the_new_name_and_the_same_batch_counts(
    store: EventStore,
) -> None:
    witnessed = AgreementWitnessed(witness=Person(name="J. Smyth"), witnessed_on=DAY)
    await store.append(
        "agreement-w",
        [
            _signatures(),
            Proposed(type="AgreementWitnessed", data=witnessed, event_id=WITNESSED),
            _correction(WITNESSED, {"witness": {"name": "Joan Smith"}}),
        ],
        metadata=CLERK,
    )
    joan = await id_of(store, "Joan Smith")
    assert [(m.type, m.path) for m in await mentions(store, joan)] == [
        ("EventCorrected", "/changes/witness/name")
    ]
    await erase(store, joan, legal_basis="Art. 17", reason="asked", metadata=DPO)
    (correction,) = await store.read_all(types=["EventCorrected"])
    assert f"[erased {joan}]".encode() in bytes(correction.data)
    assert b"Joan Smith" not in bytes(correction.data)
    # an erased person's title corrected later stays theirs, not the placeholder's
    await store.append(
        "agreement-w", [_correction(WITNESSED, {"witness": {"title": "Dr"}})], metadata=CLERK
    )
    assert [m.path for m in await mentions(store, joan)][-1] == "/changes/witness/title"
    assert (await verify_store(store)).ok


async def test_a_correction_of_what_is_no_ones_data_holds_no_personal_value(
    store: EventStore,
) -> None:
    formed = DelegationFormed(
        name="Trade mission",
        leader=Person(name="Anna Berg"),
        member_count=3,
        starts_on=DAY,
        ends_on=DAY,
        destinations=["Oslo"],
        country="Norway",
    )
    await store.append(
        "delegation-d",
        [
            Proposed(type="DelegationFormed", data=formed, event_id=FORMED),
            _correction(FORMED, {"name": "Trade and fisheries mission"}),
        ],
        metadata=CLERK,
    )
    anna = await id_of(store, "Anna Berg")
    assert [m.type for m in await mentions(store, anna)] == ["DelegationFormed"]
    (correction,) = await store.read_all(types=["EventCorrected"])
    assert correction.personal == ()


async def test_a_rectification_also_erases_what_an_earlier_correction_wrote(
    store: EventStore,
) -> None:
    await _witnessed(store, "J. Smyth")
    await store.append(
        "agreement-w", [_correction(WITNESSED, {"witness": {"name": "Joan Smyth"}})], metadata=CLERK
    )
    rectified = EventCorrected(
        corrects=WITNESSED,
        changes={"witness": {"name": "Joan Smith"}},
        reason="misspelt again (Art. 16)",
        erase_original=True,
    )
    await store.append(
        "agreement-w", [Proposed(type="EventCorrected", data=rectified)], metadata=CLERK
    )
    stored = b"".join(bytes(e.data) for e in await store.read_all())
    assert b"J. Smyth" not in stored and b"Joan Smyth" not in stored
    assert b"Joan Smith" in stored and b"Consul" in stored  # what it did not replace stays
    smyth = await id_of(store, "Joan Smyth")
    assert [m.erased for m in await mentions(store, smyth)] == [True]
    assert (await verify_store(store)).ok
