"""The pure folds: partnerships, delegations, and the owners derived from partnerships."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import msgspec
import pytest
from hypothesis import given, settings

from events.catalogue import (
    AgreementEndorsed,
    AgreementSigned,
    AgreementTerminated,
    AgreementWitnessed,
    DelegationFormed,
    EventData,
    FollowUpCancelled,
    FollowUpCompleted,
    FollowUpOpened,
    NoteAttached,
    Owner,
    Party,
    Person,
    ResponsibilityAssigned,
    ResponsibilityTransferred,
    owner_id,
)
from events.envelope import RecordedEvent
from events.upcasting import decode_stored
from projections import delegation_view
from projections._trusted import decode_trusted
from projections.delegation_view import Delegation
from projections.owner_view import owner_rows, summarize_owner, summarize_owners
from projections.partnership_view import NOTES_KEPT, Partnership, apply, copy
from tests._event_strategies import agreement_history, recorded
from tests._owners import TEST_SECRET

JAMBON = Person(name="Jan Jambon", title="Minister-President of Flanders")
NISHIMURA = Person(name="Yasutoshi Nishimura", title="Minister of Economy, Trade and Industry")
ELS = Person(name="Els Verhulst", title="Science & Technology Counselor")
TOKYO_ELS = Owner(unit="FIT Tokyo office", person=ELS)
ELS_ID = owner_id(TOKYO_ELS, TEST_SECRET)

pytestmark = pytest.mark.usefixtures("folding_secret")
DEC = dt.date(2022, 12, 1)


def evolve(view: Partnership | None, event: RecordedEvent) -> Partnership | None:
    """The partnership after `event`, leaving `view` as it was."""
    own = None if view is None else copy(view)
    data = decode_stored(event.type, event.schema_version, event.data)
    return apply(own, data, event.stream_id, event.version, event.position, event.occurred_at)


def evolve_delegation(view: Delegation | None, event: RecordedEvent) -> Delegation | None:
    own = None if view is None else msgspec.structs.replace(view, notes=list(view.notes))
    data = decode_stored(event.type, event.schema_version, event.data)
    return delegation_view.apply(
        own, data, event.stream_id, event.version, event.position, event.occurred_at
    )


def fold_partnership(events: Iterable[RecordedEvent]) -> Partnership | None:
    view: Partnership | None = None
    for event in events:
        view = evolve(view, event)
    return view


def fold_delegation(events: Iterable[RecordedEvent]) -> Delegation | None:
    view: Delegation | None = None
    for event in events:
        view = evolve_delegation(view, event)
    return view


def day(n: int) -> dt.date:
    return dt.date(2022, 12, n)


def fit_jetro() -> Partnership:
    signed = AgreementSigned(
        kind="MoC",
        title="FIT-JETRO MoC on startups",
        parties=[
            Party(organisation="FIT", signatory=Person(name="Joy Donné", title="CEO")),
            Party(organisation="JETRO", signatory=Person(name="Ichiro Soné", title="EVP")),
        ],
        signed_on=day(5),
        place="Tokyo",
        sectors=["startups"],
    )
    events = recorded(
        "agreement-fit-jetro-2022",
        [signed, AgreementWitnessed(witness=JAMBON, witnessed_on=day(5))],
        start_position=2,
    )
    view = fold_partnership(events)
    assert view is not None
    return view


def imec_rapidus(*more: EventData, start_position: int = 7) -> Partnership:
    history: list[EventData] = [
        AgreementSigned(
            kind="MoC",
            title="imec-Rapidus MoC on semiconductors",
            parties=[
                Party(organisation="imec", signatory=Person(name="Luc Van den hove")),
                Party(organisation="Rapidus", signatory=Person(name="Atsuyoshi Koike")),
            ],
            signed_on=day(6),
            sectors=["semiconductors"],
        ),
        AgreementEndorsed(
            endorser=JAMBON, on_behalf_of="Government of Flanders", endorsed_on=day(6)
        ),
        AgreementEndorsed(endorser=NISHIMURA, on_behalf_of="METI", endorsed_on=day(6)),
        ResponsibilityAssigned(
            owner=TOKYO_ELS, assigned_by="Government of Flanders", assigned_on=day(6)
        ),
        *more,
    ]
    view = fold_partnership(
        recorded("agreement-imec-rapidus-2022", history, start_position=start_position)
    )
    assert view is not None
    return view


def test_fit_jetro_moc_is_signed_by_both_ceos_and_witnessed_by_jambon() -> None:
    view = fit_jetro()
    assert view.agreement_id == "agreement-fit-jetro-2022"
    assert [p.signatory.name for p in view.parties if p.signatory] == ["Joy Donné", "Ichiro Soné"]
    assert view.signed_on == day(5) and view.place == "Tokyo"
    assert [w.person.name for w in view.witnesses] == ["Jan Jambon"]
    assert view.owner is None and view.status == "active"
    assert (view.version, view.position) == (2, 3)


def test_imec_rapidus_is_endorsed_twice_and_owned_by_els_verhulst_at_fit_tokyo() -> None:
    view = imec_rapidus()
    assert [(e.endorser.name, e.on_behalf_of) for e in view.endorsements] == [
        ("Jan Jambon", "Government of Flanders"),
        ("Yasutoshi Nishimura", "METI"),
    ]
    assert view.owner is not None
    assert view.owner.unit == "FIT Tokyo office"
    assert view.owner.person == ELS
    assert view.owner.owner_id == ELS_ID
    assert (view.version, view.position) == (4, 10)


def test_events_before_signing_fold_to_nothing() -> None:
    events = recorded("agreement-x", [NoteAttached(text="early")])
    assert fold_partnership(events) is None


def test_transfer_replaces_the_owner_and_follow_ups_keep_their_own_when_told() -> None:
    osaka = Owner(unit="FIT Osaka office")
    view = imec_rapidus(
        FollowUpOpened(
            follow_up_id="visit", title="Visit Rapidus", owner=TOKYO_ELS, due_on=day(20)
        ),
        ResponsibilityTransferred(
            from_owner=TOKYO_ELS,
            to_owner=osaka,
            transferred_on=day(10),
            move_open_follow_ups=False,
        ),
    )
    assert view.owner is not None and view.owner.owner_id == "fit-osaka-office"
    assert view.owner.since == day(10)
    assert view.follow_ups[0].owner.owner_id == ELS_ID


def test_follow_up_closes_once() -> None:
    view = imec_rapidus(
        FollowUpOpened(follow_up_id="visit", title="Visit", owner=TOKYO_ELS, due_on=day(20)),
        FollowUpCompleted(follow_up_id="visit", completed_on=day(19), outcome="done"),
        FollowUpCancelled(follow_up_id="visit", cancelled_on=day(21), reason="late"),
    )
    (follow_up,) = view.follow_ups
    assert follow_up.state == "completed"
    assert follow_up.completed_on == day(19) and follow_up.outcome == "done"
    assert follow_up.cancelled_on is None
    assert view.version == 7  # the ignored cancel still counts as folded


def test_a_follow_up_opened_twice_keeps_its_first_opening_even_in_a_stored_view() -> None:
    """The log may hold a second opening (today's rules refuse it; older data need not):
    the first stands, whether the view was folded here or read back from its stored JSON."""
    first = FollowUpOpened(follow_up_id="visit", title="Visit", owner=TOKYO_ELS, due_on=day(20))
    again = FollowUpOpened(follow_up_id="visit", title="Again", owner=TOKYO_ELS, due_on=day(30))
    other = FollowUpOpened(follow_up_id="report", title="Report", owner=TOKYO_ELS, due_on=day(9))
    folded = imec_rapidus(first, other, again)
    assert [(f.follow_up_id, f.title) for f in folded.follow_ups] == [
        ("visit", "Visit"),
        ("report", "Report"),
    ]
    stored = msgspec.json.decode(msgspec.json.encode(imec_rapidus(first)), type=Partnership)
    later = recorded("agreement-imec-rapidus-2022", [again, other], start_position=20)
    for event in later:
        after = evolve(stored, event)
        assert after is not None
        stored = after
    assert [(f.follow_up_id, f.title) for f in stored.follow_ups] == [
        ("visit", "Visit"),
        ("report", "Report"),
    ]
    assert msgspec.json.encode(stored).count(b"follow_up_ids") == 0


def test_termination_ends_the_partnership() -> None:
    view = imec_rapidus(AgreementTerminated(terminated_on=day(31), reason="superseded"))
    assert view.status == "terminated"
    assert view.terminated_on == day(31) and view.termination_reason == "superseded"


def test_evolve_keeps_earlier_states_unchanged() -> None:
    events = recorded(
        "agreement-a",
        [imec_history_signed(), AgreementWitnessed(witness=JAMBON, witnessed_on=day(6))],
    )
    first = fold_partnership(events[:1])
    both = fold_partnership(events)
    assert first is not None and both is not None
    assert first.witnesses == [] and len(both.witnesses) == 1


def imec_history_signed() -> AgreementSigned:
    return AgreementSigned(
        kind="MoC",
        title="t",
        parties=[Party(organisation="a"), Party(organisation="b")],
        signed_on=day(6),
    )


def test_delegation_counts_members_and_cities() -> None:
    formed = DelegationFormed(
        name="BEM Japan",
        leader=JAMBON,
        organiser="FIT",
        member_count=258,
        starts_on=day(5),
        ends_on=day(9),
        destinations=["Tokyo", "Nagoya", "Osaka"],
        country="Japan",
    )
    view = fold_delegation(
        recorded("delegation-bem", [formed, NoteAttached(text="startup programme")])
    )
    assert view is not None
    assert view.member_count == 258 and view.destinations == ["Tokyo", "Nagoya", "Osaka"]
    assert [n.text for n in view.notes] == ["startup programme"]
    assert (view.delegation_id, view.version) == ("delegation-bem", 2)


def test_owner_of_imec_rapidus_is_responsible_for_it() -> None:
    (summary,) = summarize_owners(owner_rows(imec_rapidus()), today=day(7))
    assert summary.owner_id == ELS_ID
    assert summary.unit == "FIT Tokyo office" and summary.person == ELS
    assert [a.agreement_id for a in summary.agreements] == ["agreement-imec-rapidus-2022"]
    assert summary.counts.open == 0


def test_overdue_counts_depend_on_today() -> None:
    osaka = Owner(unit="FIT Osaka office")
    view = imec_rapidus(
        FollowUpOpened(follow_up_id="a", title="A", owner=TOKYO_ELS, due_on=day(10)),
        FollowUpOpened(follow_up_id="b", title="B", owner=TOKYO_ELS, due_on=day(20)),
        FollowUpOpened(follow_up_id="c", title="C", owner=TOKYO_ELS, due_on=day(5)),
        FollowUpOpened(follow_up_id="d", title="D", owner=osaka, due_on=day(1)),
        FollowUpCompleted(follow_up_id="c", completed_on=day(9)),
    )
    rows = [row for row in owner_rows(view) if row.owner_id == ELS_ID]

    def counts(today: dt.date) -> tuple[int, int, int]:
        summary = summarize_owner(rows, today)
        return summary.counts.open, summary.counts.overdue, summary.counts.completed

    assert counts(day(10)) == (2, 0, 1)  # due today is not overdue yet
    assert counts(day(11)) == (2, 1, 1)
    assert counts(day(21)) == (2, 2, 1)
    summary = summarize_owner(rows, day(11))
    assert [f.follow_up_id for f in summary.overdue] == ["a"]
    # The Osaka follow-up makes Osaka an owner, without the agreement itself.
    osaka_summary = next(
        s for s in summarize_owners(owner_rows(view), day(2)) if s.unit == "FIT Osaka office"
    )
    assert osaka_summary.agreements == [] and osaka_summary.counts.overdue == 1


@settings(max_examples=60, deadline=None)
@given(agreement_history())
def test_fold_is_a_function_of_the_events(history: list[object]) -> None:
    events = recorded("agreement-p", history)  # type: ignore[arg-type]
    view = fold_partnership(events)
    assert view is not None
    assert view == fold_partnership(events)
    assert (view.version, view.position) == (len(events), events[-1].position)
    ids = [f.follow_up_id for f in view.follow_ups]
    assert len(ids) == len(set(ids))
    rows = owner_rows(view)
    assert len(rows) == len(view.follow_ups) + (view.owner is not None)


def test_a_document_shows_the_latest_notes_and_counts_them_all() -> None:
    notes = [NoteAttached(text=f"note {n}") for n in range(NOTES_KEPT + 5)]
    view = imec_rapidus(*notes)
    assert view.note_count == NOTES_KEPT + 5
    assert [n.text for n in view.notes] == [f"note {n}" for n in range(5, NOTES_KEPT + 5)]
    formed = DelegationFormed(
        name="BEM Japan",
        leader=JAMBON,
        organiser="FIT",
        member_count=3,
        starts_on=day(5),
        ends_on=day(9),
        destinations=["Tokyo"],
        country="Japan",
    )
    delegation = fold_delegation(recorded("delegation-bem", [formed, *notes]))
    assert delegation is not None and delegation.note_count == NOTES_KEPT + 5
    assert len(delegation.notes) == NOTES_KEPT and delegation.notes[-1].text == notes[-1].text


@settings(max_examples=60, deadline=None)
@given(agreement_history())
def test_folding_in_place_gives_the_pure_fold_and_evolve_changes_nothing_it_is_given(
    history: list[EventData],
) -> None:
    events = recorded("agreement-p", history)
    kept: list[tuple[Partnership, bytes]] = []
    pure: Partnership | None = None
    for event in events:
        pure = evolve(pure, event)
        if pure is not None:
            kept.append((pure, msgspec.json.encode(pure)))
    assert pure is not None
    for decode in (decode_stored, decode_trusted):  # replays decode without validating
        in_place: Partnership | None = None
        for event in events:
            data = decode(event.type, event.schema_version, event.data)
            in_place = apply(
                in_place, data, event.stream_id, event.version, event.position, event.occurred_at
            )
        assert in_place is not None
        assert msgspec.json.encode(in_place) == msgspec.json.encode(pure)
    # Every earlier state the pure fold handed out is still what it was then.
    assert all(msgspec.json.encode(view) == encoded for view, encoded in kept)


def test_trusted_copies_decode_what_the_catalogue_does_without_checking_it_again() -> None:
    witness = Person(name="Jan Jambon", title="Minister-President")
    data = AgreementWitnessed(witness=witness, witnessed_on=day(5))
    stored = msgspec.json.encode(data)
    copy = decode_trusted(data.type_name, data.schema_version, stored)
    assert type(copy) is not AgreementWitnessed and msgspec.json.encode(copy) == stored
    assert msgspec.json.encode(copy.witness) == msgspec.json.encode(witness)
    # A value today's rules would refuse (a control character) still replays.
    odd = stored.replace(b"Jan Jambon", rb"Jan\u0007Jambon")
    with pytest.raises(msgspec.ValidationError):
        decode_stored(data.type_name, data.schema_version, odd)
    assert decode_trusted(data.type_name, data.schema_version, odd).witness.name == "Jan\aJambon"
    assert decode_trusted("NoSuchType", 1, b"{}") is None
