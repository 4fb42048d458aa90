"""Reading the projections through `Projections`: filters, ids, owners, positions."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from events.catalogue import (
    AgreementTerminated,
    EventData,
    FollowUpCompleted,
    FollowUpOpened,
    Owner,
)
from events.envelope import Proposed
from events.store import EventStore, open_store
from projections import Projections
from service.demo import SEED
from tests._event_strategies import ACTOR
from tests._owners import els_of

IMEC = "agreement-imec-rapidus-2022"


@pytest.fixture
async def projections(tmp_path: Path) -> AsyncIterator[Projections]:
    store: EventStore = await open_store(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    for stream_id, events in SEED:
        await store.append(stream_id, events, metadata=ACTOR)
    projections = Projections(store, poll_interval=0.2)
    await projections.start()
    assert await projections.wait_for(await store.head(), 5)
    yield projections
    await projections.stop()
    await store.close()


async def append(projections: Projections, stream_id: str, *data: EventData) -> int:
    store = projections._store
    result = await store.append(
        stream_id,
        [
            Proposed(type=d.type_name, data=d, occurred_at=dt.datetime(2023, 1, 1, tzinfo=dt.UTC))
            for d in data
        ],
        metadata=ACTOR,
    )
    assert await projections.wait_for(result.to_position, 5)
    return result.to_position


async def test_the_seed_partnerships_delegation_and_owner(projections: Projections) -> None:
    els = await els_of(projections._store.engine)
    views, position = await projections.list_partnerships()
    assert position == 10
    assert [v.agreement_id for v in views] == [
        "agreement-settlemint-fujitsu-2022",
        "agreement-fit-jetro-2022",
        IMEC,
    ]
    (delegation,), _ = await projections.list_delegations()
    assert delegation.member_count == 258
    assert delegation.destinations == ["Tokyo", "Nagoya", "Osaka"]
    same, _ = await projections.get_delegation("bem-japan-2022")
    assert same == delegation
    (owner,), _ = await projections.list_owners(today=dt.date(2023, 1, 1))
    assert (
        owner.owner_id == els and owner.person is not None and owner.person.name == "Els Verhulst"
    )
    assert [a.agreement_id for a in owner.agreements] == [IMEC]


async def test_filters_by_status_owner_and_sector(projections: Projections) -> None:
    els = await els_of(projections._store.engine)
    await append(
        projections,
        "agreement-fit-jetro-2022",
        AgreementTerminated(terminated_on=dt.date(2023, 1, 1), reason="done"),
    )

    async def ids(**filters: str) -> list[str]:
        views, _ = await projections.list_partnerships(**filters)  # type: ignore[arg-type]
        return [v.agreement_id for v in views]

    assert await ids(status="terminated") == ["agreement-fit-jetro-2022"]
    assert await ids(status="active") == [IMEC]
    assert await ids(status="announced") == ["agreement-settlemint-fujitsu-2022"]
    assert await ids(owner=els) == [IMEC]
    assert await ids(sector="Semiconductors") == [IMEC]
    assert await ids(sector="semiconductors", status="terminated") == []
    assert await ids(owner="nobody") == []


async def test_single_reads_accept_ids_with_or_without_prefix(projections: Projections) -> None:
    doc, position = await projections.get_partnership_json("imec-rapidus-2022")
    assert doc is not None and position == 10
    view, _ = await projections.get_partnership(IMEC)
    assert view is not None and msgspec.json.encode(view) == doc
    assert await projections.get_partnership("no-such") == (None, 10)
    assert await projections.get_owner("nobody", today=dt.date(2023, 1, 1)) == (None, 10)


async def test_a_follow_up_opened_then_completed_shows_in_both_read_models(
    projections: Projections,
) -> None:
    tokyo = Owner(unit="FIT Tokyo office")
    opened = await append(
        projections,
        IMEC,
        FollowUpOpened(
            follow_up_id="visit", title="Visit Rapidus", owner=tokyo, due_on=dt.date(2023, 2, 1)
        ),
    )
    owner, position = await projections.get_owner("fit-tokyo-office", today=dt.date(2023, 2, 2))
    assert position == opened and owner is not None
    assert (owner.counts.open, owner.counts.overdue) == (1, 1)
    owner, _ = await projections.get_owner("fit-tokyo-office", today=dt.date(2023, 2, 1))
    assert owner is not None and owner.counts.overdue == 0

    await append(
        projections,
        IMEC,
        FollowUpCompleted(follow_up_id="visit", completed_on=dt.date(2023, 1, 30)),
    )
    view, _ = await projections.get_partnership(IMEC)
    assert view is not None and view.follow_ups[0].state == "completed"
    owner, _ = await projections.get_owner("fit-tokyo-office", today=dt.date(2023, 2, 2))
    assert owner is not None
    assert (owner.counts.open, owner.counts.overdue, owner.counts.completed) == (0, 0, 1)
