"""Corrections in the fold: every view shows the corrected value from the correction's
position on (live, after a rebuild, as of later cuts), and the original before it."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.catalogue import (
    AgreementAnnounced,
    AgreementSigned,
    AgreementTerminated,
    DelegationFormed,
    DocumentRecorded,
    EventCorrected,
    EventData,
    FollowUpOpened,
    NoteAttached,
    Owner,
    Party,
    Person,
    ResponsibilityAssigned,
    encode_data,
)
from events.envelope import Proposed
from events.errors import RuleViolation
from events.store import EventStore, open_store
from projections import Projections
from projections.as_of import Cut, picture_at
from projections.setup import prepare_tables
from tests._event_strategies import ACTOR, business_time, log_plan, table_rows

TODAY = dt.date(2023, 6, 1)
STREAM = "agreement-fit-jetro-2022"
TOKYO = Owner(unit="FIT Tokyo office")


def _proposed(data: EventData, event_id: str | None = None) -> Proposed:
    return Proposed(
        type=data.type_name,
        data=data,
        occurred_at=business_time(data),
        event_id=event_id or str(uuid.uuid4()),
    )


def _correction(target: str, changes: dict[str, Any]) -> Proposed:
    return _proposed(EventCorrected(corrects=target, changes=changes, reason="recorded wrongly"))


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    store = await open_store(database_url)
    try:
        yield store
    finally:
        await store.close()


async def test_a_corrected_title_owner_and_due_date_show_live_rebuilt_and_from_then_on(
    store: EventStore,
) -> None:
    signed, assigned, opened = (str(uuid.uuid4()) for _ in range(3))
    history = [
        _proposed(
            AgreementSigned(
                kind="MoC",
                title="FIT-JETRO MoC",
                parties=[Party(organisation="FIT"), Party(organisation="JETRO")],
                signed_on=dt.date(2022, 12, 5),
                sectors=["startups"],
            ),
            signed,
        ),
        _proposed(
            ResponsibilityAssigned(
                owner=TOKYO, assigned_by="Els Verhulst", assigned_on=dt.date(2022, 12, 6)
            ),
            assigned,
        ),
        _proposed(
            FollowUpOpened(
                follow_up_id="report",
                title="Report to the board",
                owner=TOKYO,
                due_on=dt.date(2023, 1, 15),
            ),
            opened,
        ),
    ]
    await prepare_tables(store.engine)
    projections = Projections(store)
    before = (await store.append(STREAM, history, metadata=ACTOR)).to_position
    await projections.runner.catch_up()
    original, _ = await projections.get_partnership_json(STREAM)
    corrections = [
        _correction(signed, {"title": "FIT-JETRO MoC on startups", "sectors": ["semiconductors"]}),
        _correction(assigned, {"owner": {"unit": "FIT Osaka office"}}),
        _correction(opened, {"due_on": "2023-03-01"}),
    ]
    after = (await store.append(STREAM, corrections, metadata=ACTOR)).to_position
    await projections.runner.catch_up()

    view, _ = await projections.get_partnership(STREAM)
    assert view is not None
    assert view.title == "FIT-JETRO MoC on startups"
    assert view.owner is not None and view.owner.unit == "FIT Osaka office"
    assert view.follow_ups[0].due_on == dt.date(2023, 3, 1)
    assert view.follow_ups[0].owner.unit == "FIT Tokyo office"  # only the assignment changed
    listed, _ = await projections.list_partnerships(sector="semiconductors")
    assert [p.agreement_id for p in listed] == [STREAM]
    assert await projections.list_partnerships(sector="startups") == ([], after)
    owners, _ = await projections.list_owners(today=TODAY)
    by_unit = {owner.unit: owner for owner in owners}
    assert by_unit["FIT Osaka office"].agreements[0].title == "FIT-JETRO MoC on startups"
    assert [f.due_on for f in by_unit["FIT Tokyo office"].open] == [dt.date(2023, 3, 1)]

    live = await table_rows(store.engine)
    await projections.rebuild()
    assert await table_rows(store.engine) == live

    past, _ = await projections.get_partnership_json(STREAM, as_of_position=before)
    assert past == original
    partial, _ = await projections.get_partnership(STREAM, as_of_position=before + 1)
    assert partial is not None
    assert partial.title == "FIT-JETRO MoC on startups"
    assert partial.owner is not None and partial.owner.unit == "FIT Tokyo office"
    now, _ = await projections.get_partnership_json(STREAM, as_of_position=after)
    assert now == (await projections.get_partnership_json(STREAM))[0]
    picture = await picture_at(store, Cut(position=before))
    assert picture.partnerships[STREAM].title == "FIT-JETRO MoC"


def _patch(data: EventData, n: int) -> dict[str, Any]:
    match data:
        case AgreementSigned():
            return {"title": f"corrected title {n}", "sectors": [f"sector {n % 3}"]}
        case ResponsibilityAssigned():
            return {"owner": {"unit": f"corrected unit {n % 2}"}}
        case FollowUpOpened():
            return {"due_on": f"2024-0{1 + n % 9}-01", "title": f"corrected follow-up {n}"}
        case NoteAttached():
            return {"text": f"corrected note {n}"}
        case AgreementAnnounced():
            return {"title": f"corrected announcement {n}", "announced_on": "2023-0{n % 9 + 1}-02"}
        case DocumentRecorded():
            return {"sha256": f"{n:064x}", "size": n + 1, "location": None}
        case _:
            return {}


@st.composite
def corrected_plan(draw: st.DrawFn) -> list[tuple[str, list[Proposed]]]:
    """A log plan with corrections of earlier events of agreement streams interleaved (none
    after a termination: the rules refuse those)."""
    plan: list[tuple[str, list[Proposed]]] = []
    appended: dict[str, list[Proposed]] = {}
    for n, (stream_id, history) in enumerate(draw(log_plan(max_agreements=3, max_events=10))):
        batch = [_proposed(data) for data in history]
        plan.append((stream_id, batch))
        appended.setdefault(stream_id, []).extend(batch)
        ended = any(isinstance(p.data, AgreementTerminated) for p in appended[stream_id])
        if stream_id.startswith("agreement-") and not ended and draw(st.booleans()):
            target = draw(st.sampled_from(appended[stream_id]))
            assert isinstance(target.data, EventData)
            changes = _patch(target.data, n)
            if not changes or target.type == "EventCorrected":
                continue
            correction = _correction(target.event_id or "", changes)
            plan.append((stream_id, [correction]))
            appended[stream_id].append(correction)
    return plan


async def _live_rebuilt_and_replayed_agree(
    path: Path, plan: list[tuple[str, list[Proposed]]], batch_size: int
) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{path / (uuid.uuid4().hex + '.db')}")
    try:
        await prepare_tables(store.engine)
        projections = Projections(store, batch_size=batch_size)
        seen = {}
        for stream_id, batch in plan:
            try:
                position = (await store.append(stream_id, batch, metadata=ACTOR)).to_position
            except RuleViolation:
                # The correction rules refuse some drawn corrections (one that changes nothing,
                # or whose result breaks a rule); a refused append records nothing.
                if batch[0].type != "EventCorrected":
                    raise
                continue
            await projections.runner.catch_up()
            seen[position] = (
                await projections.list_partnerships_json(),
                await projections.list_owners(today=TODAY),
            )
        live = await table_rows(store.engine)
        await projections.rebuild()
        assert await table_rows(store.engine) == live
        for position, answers in seen.items():
            assert (
                await projections.list_partnerships_json(as_of_position=position),
                await projections.list_owners(today=TODAY, as_of_position=position),
            ) == answers
    finally:
        await store.close()


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=corrected_plan(), batch_size=st.sampled_from([1, 3, 1000]))
def test_live_rebuild_and_as_of_agree_on_histories_with_corrections(
    tmp_path: Path, plan: list[tuple[str, list[Proposed]]], batch_size: int
) -> None:
    asyncio.run(_live_rebuilt_and_replayed_agree(tmp_path, plan, batch_size))


def test_an_event_naming_other_streams_has_them_folded_again_from_their_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The refold hook is general (erasure will use it): an event of one stream may name
    others, and every view of those is folded again from their rows as read then."""
    from projections import fold
    from projections._trusted import trusted_kinds
    from projections.as_of import Held
    from projections.partnership_view import Partnership, apply
    from projections.partnerships import NAME

    erased = "DelegationFormed"  # stands in for an erasure event of another stream
    names = {kind: (lambda _data, _stream: (STREAM,)) for kind in trusted_kinds(DelegationFormed)}
    monkeypatch.setattr(fold, "_HOOKS", {**fold._HOOKS, **names})
    monkeypatch.setattr(fold, "_REFOLDING_TYPES", fold._REFOLDING_TYPES | {erased})
    signing = AgreementSigned(
        kind="MoC",
        title="Signed by Jan Jambon",
        parties=[Party(organisation="FIT"), Party(organisation="JETRO")],
        signed_on=dt.date(2022, 12, 5),
    )
    at = "2022-12-05T00:00:00Z"
    row = (1, STREAM, 1, "AgreementSigned", 1, at, at, encode_data(signing))
    views: dict[str, Partnership] = {}
    folding = fold.Fold({NAME: Held(apply, views)})
    folding.apply([row])
    assert views[STREAM].title == "Signed by Jan Jambon"

    blanked = msgspec.structs.replace(signing, title="Signed by [erased]")
    history = [(*row[:7], encode_data(blanked), "e1")]
    formed = DelegationFormed(
        name="Mission",
        leader=Person(name="Someone", title="Leader"),
        organiser="FIT",
        member_count=3,
        starts_on=dt.date(2023, 1, 1),
        ends_on=dt.date(2023, 1, 5),
        destinations=["Tokyo"],
        country="Japan",
    )
    trigger = (2, "delegation-d1", 1, erased, 1, at, at, encode_data(formed))
    assert folding.wanted([trigger]) == {STREAM: 2}
    folding.apply([trigger], {STREAM: history})
    assert views[STREAM].title == "Signed by [erased]"
