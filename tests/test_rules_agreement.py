"""The agreement decider: each rule refuses what it should and lets the rest through."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.catalogue import (
    AgreementAmended,
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
    TokenIssued,
)
from events.errors import RuleViolation
from events.rules.agreement import AGREEMENT, AgreementState


def day(n: int) -> dt.date:
    return dt.date(2022, 12, n)


def signed(on: int = 5, parties: Sequence[str] = ("imec", "Rapidus")) -> AgreementSigned:
    return AgreementSigned(
        kind="MoC",
        title="MoC on semiconductors",
        parties=[Party(organisation=p) for p in parties],
        signed_on=day(on),
    )


JAMBON = Person(name="Jan Jambon", title="Minister-President of Flanders")
ELS = Owner(unit="FIT Tokyo office", person=Person(name="Els Verhulst", title="Counselor"))
OFFICE = Owner(unit="FIT Tokyo office")


def witnessed(on: int = 5) -> AgreementWitnessed:
    return AgreementWitnessed(witness=JAMBON, witnessed_on=day(on))


def endorsed(on: int = 5) -> AgreementEndorsed:
    return AgreementEndorsed(
        endorser=JAMBON, on_behalf_of="Government of Flanders", endorsed_on=day(on)
    )


def assigned(owner: Owner = ELS, on: int = 6) -> ResponsibilityAssigned:
    return ResponsibilityAssigned(
        owner=owner, assigned_by="Government of Flanders", assigned_on=day(on)
    )


def transferred(
    from_owner: Owner = ELS, to_owner: Owner = OFFICE, on: int = 7
) -> ResponsibilityTransferred:
    return ResponsibilityTransferred(
        from_owner=from_owner, to_owner=to_owner, transferred_on=day(on)
    )


def opened(fid: str = "f1", due: int = 20) -> FollowUpOpened:
    return FollowUpOpened(follow_up_id=fid, title="Workshop", owner=ELS, due_on=day(due))


def completed(fid: str = "f1", on: int = 8) -> FollowUpCompleted:
    return FollowUpCompleted(follow_up_id=fid, completed_on=day(on))


def cancelled(fid: str = "f1", on: int = 8) -> FollowUpCancelled:
    return FollowUpCancelled(follow_up_id=fid, cancelled_on=day(on), reason="no longer needed")


def amended(on: int = 8) -> AgreementAmended:
    return AgreementAmended(amended_on=day(on), summary="scope widened")


def terminated(on: int = 9) -> AgreementTerminated:
    return AgreementTerminated(terminated_on=day(on), reason="superseded")


NOTE = NoteAttached(text="see the press release")


def fold(events: Sequence[EventData]) -> AgreementState:
    state = AGREEMENT.initial()
    for event in events:
        state = AGREEMENT.evolve(state, event)
    return state


def refusal(past: Sequence[EventData], new: Sequence[EventData]) -> RuleViolation:
    with pytest.raises(RuleViolation) as caught:
        AGREEMENT.check(fold(past), new)
    return caught.value


def accepts(past: Sequence[EventData], new: Sequence[EventData]) -> None:
    AGREEMENT.check(fold(past), new)


# --- the start of the stream -------------------------------------------------------------


@pytest.mark.parametrize(
    "first", [witnessed(), endorsed(), assigned(), opened(), amended(), terminated(), NOTE]
)
def test_stream_must_start_with_signing(first: EventData) -> None:
    error = refusal([], [first])
    assert (error.rule, error.index) == ("stream_must_start_with_signing", 0)
    accepts([], [signed()])


def test_a_batch_is_checked_as_it_folds() -> None:
    accepts([], [signed(), endorsed(), assigned(), opened()])
    error = refusal([], [signed(), endorsed(), signed()])
    assert (error.rule, error.index) == ("already_signed", 2)


def test_already_signed() -> None:
    assert refusal([signed()], [signed()]).rule == "already_signed"
    accepts([signed()], [endorsed()])


def test_event_type_not_allowed_in_category() -> None:
    formed = DelegationFormed(
        name="BEM Japan",
        leader=JAMBON,
        organiser="FIT",
        member_count=258,
        starts_on=day(5),
        ends_on=day(9),
        destinations=["Tokyo"],
        country="Japan",
    )
    assert refusal([], [formed]).rule == "event_type_not_allowed_in_category"
    assert refusal([signed()], [formed]).rule == "event_type_not_allowed_in_category"
    token = TokenIssued(token_id="t1", name="intruder", role="admin", token_hash="0" * 64)
    assert refusal([signed()], [token]).rule == "event_type_not_allowed_in_category"
    accepts([signed()], [NOTE])


def test_duplicate_party() -> None:
    error = refusal([], [signed(parties=("Rapidus", "imec", " RAPIDUS "))])
    assert (error.rule, error.index) == ("duplicate_party", 0)
    accepts([], [signed(parties=("FIT", "FIT Tokyo office"))])


# --- termination ---------------------------------------------------------------------------


LATE = [
    witnessed(10),
    endorsed(10),
    assigned(on=10),
    transferred(on=10),
    opened(),
    amended(10),
    terminated(10),
]


@pytest.mark.parametrize("late", LATE, ids=[type(e).__name__ for e in LATE])
def test_agreement_ended(late: EventData) -> None:
    past = [signed(), assigned(), terminated()]
    error = refusal(past, [late])
    assert error.rule == "agreement_ended"
    accepts(past[:-1], [late])


@pytest.mark.parametrize("close", [completed(on=10), cancelled(on=10)])
def test_open_follow_ups_can_still_be_closed_after_termination(close: EventData) -> None:
    accepts([signed(), opened(), terminated()], [close, NOTE])


# --- dates ---------------------------------------------------------------------------------

DATED: list[tuple[str, Callable[[int], EventData]]] = [
    ("witnessed_before_signing", witnessed),
    ("endorsed_before_signing", endorsed),
    ("assigned_before_signing", lambda n: assigned(on=n)),
    ("follow_up_due_before_signing", lambda n: opened(due=n)),
    ("amended_before_signing", amended),
    ("terminated_before_signing", terminated),
]


@pytest.mark.parametrize(("rule", "make"), DATED, ids=[rule for rule, _ in DATED])
def test_dates_not_before_signing(rule: str, make: Callable[[int], EventData]) -> None:
    error = refusal([signed(on=5)], [make(4)])
    assert (error.rule, error.index) == (rule, 0)
    accepts([signed(on=5)], [make(5)])  # the signing day itself is fine


def test_endorsed_the_day_after_an_announced_signing() -> None:
    # SettleMint-Fujitsu: announced and signed 12-04, endorsed during the mission on 12-05.
    announced = AgreementSigned(
        kind="partnership",
        title="SettleMint and Fujitsu",
        parties=[Party(organisation="SettleMint"), Party(organisation="Fujitsu")],
        signed_on=day(4),
        announced_on=day(4),
    )
    accepts([], [announced, endorsed(5)])
    assert refusal([], [announced, endorsed(3)]).rule == "endorsed_before_signing"


def test_transferred_before_signing() -> None:
    # An assignment dated on the signing day, then a transfer dated before it.
    past = [signed(on=5), assigned(on=5)]
    assert refusal(past, [transferred(on=4)]).rule == "transferred_before_signing"
    accepts(past, [transferred(on=5)])


@pytest.mark.parametrize("close", [completed, cancelled])
def test_follow_up_closed_before_signing(close: Callable[..., EventData]) -> None:
    past = [signed(on=5), opened()]
    assert refusal(past, [close(on=4)]).rule == "follow_up_closed_before_signing"
    accepts(past, [close(on=5)])


# --- responsibility ------------------------------------------------------------------------


def test_no_current_owner() -> None:
    assert refusal([signed()], [transferred()]).rule == "no_current_owner"
    accepts([signed()], [assigned(), transferred()])


def test_transfer_from_not_current_owner() -> None:
    past = [signed(), assigned(ELS)]
    someone_else = Owner(unit="FIT Tokyo office", person=Person(name="Someone Else"))
    error = refusal(past, [transferred(from_owner=someone_else)])
    assert error.rule == "transfer_from_not_current_owner"
    # The same owner under another title is still the current owner.
    retitled = Owner(unit="FIT Tokyo office", person=Person(name="Els Verhulst", title="Head"))
    accepts(past, [transferred(from_owner=retitled)])


@pytest.mark.parametrize(
    ("recorded", "named"),
    [
        ("外務省", "경제산업부"),  # both slug to `x`
        ("Ministry of Finance", "MINISTRY-of-finance!"),  # one slug
        ("FIT Tokyo office", "FIT Tokyo Office"),
    ],
)
def test_a_transfer_from_an_owner_with_the_same_slug_is_refused(recorded: str, named: str) -> None:
    past = [signed(), assigned(Owner(unit=recorded))]
    error = refusal(past, [transferred(Owner(unit=named), ELS)])
    assert error.rule == "transfer_from_not_current_owner"
    accepts(past, [transferred(Owner(unit=recorded), ELS)])


def test_owners_are_compared_as_recorded_up_to_unicode_composition() -> None:
    # Another text with the same slug is another owner...
    past = [signed(), assigned(Owner(unit="外務省"))]
    accepts(past, [transferred(Owner(unit="外務省"), Owner(unit="경제산업부"))])
    # ...the same text typed with combining accents is the same owner.
    composed, decomposed = "Direcci\u00f3n General", "Direccio\u0301n General"
    past = [signed(), assigned(Owner(unit=composed))]
    accepts(past, [transferred(Owner(unit=decomposed), OFFICE)])


def test_transfer_to_same_owner() -> None:
    past = [signed(), assigned(ELS)]
    assert refusal(past, [transferred(ELS, ELS)]).rule == "transfer_to_same_owner"
    accepts(past, [transferred(ELS, OFFICE)])


def test_a_transfer_makes_the_receiver_the_owner() -> None:
    past = [signed(), assigned(ELS), transferred(ELS, OFFICE)]
    assert refusal(past, [transferred(ELS, ELS)]).rule == "transfer_from_not_current_owner"
    accepts(past, [transferred(OFFICE, ELS)])


def test_a_new_assignment_replaces_the_owner() -> None:
    past = [signed(), assigned(ELS), assigned(OFFICE)]
    assert refusal(past, [transferred(ELS, OFFICE)]).rule == "transfer_from_not_current_owner"
    accepts(past, [transferred(OFFICE, ELS)])


# --- follow-ups ----------------------------------------------------------------------------


def test_follow_up_already_exists() -> None:
    assert refusal([signed(), opened("f1")], [opened("f1")]).rule == "follow_up_already_exists"
    # A closed id is not free again either.
    past = [signed(), opened("f1"), completed("f1")]
    assert refusal(past, [opened("f1")]).rule == "follow_up_already_exists"
    accepts([signed(), opened("f1")], [opened("f2")])


@pytest.mark.parametrize("close", [completed, cancelled])
def test_follow_up_unknown(close: Callable[[str], EventData]) -> None:
    assert refusal([signed(), opened("f1")], [close("f2")]).rule == "follow_up_unknown"
    accepts([signed(), opened("f1")], [close("f1")])


@pytest.mark.parametrize("first", [completed, cancelled])
@pytest.mark.parametrize("second", [completed, cancelled])
def test_follow_up_already_closed(
    first: Callable[[str], EventData], second: Callable[[str], EventData]
) -> None:
    error = refusal([signed(), opened("f1")], [first("f1"), second("f1")])
    assert (error.rule, error.index) == ("follow_up_already_closed", 1)
    accepts([signed(), opened("f1"), opened("f2"), first("f1")], [second("f2")])


# --- property: checking a batch is checking its events one by one ---------------------------

_days = st.integers(min_value=1, max_value=12)
_owners = st.sampled_from(
    [ELS, OFFICE, Owner(unit="FIT Tokyo office", person=Person(name="Els Verhulst", title="X"))]
)
_fids = st.sampled_from(["f1", "f2", "f3"])
_parties = st.lists(st.sampled_from(["imec", "IMEC", "Rapidus", "FIT"]), min_size=2, max_size=3)

_events: st.SearchStrategy[EventData] = st.one_of(
    st.builds(lambda n, ps: signed(n, ps), _days, _parties),
    st.builds(witnessed, _days),
    st.builds(endorsed, _days),
    st.builds(assigned, _owners, _days),
    st.builds(transferred, _owners, _owners, _days),
    st.builds(opened, _fids, _days),
    st.builds(completed, _fids, _days),
    st.builds(cancelled, _fids, _days),
    st.builds(amended, _days),
    st.builds(terminated, _days),
    st.just(NOTE),
)
_histories = st.lists(_events, max_size=15).map(lambda rest: [signed(2), *rest]) | st.lists(
    _events, max_size=15
)


def _one_by_one(events: Sequence[EventData]) -> tuple[AgreementState, list[EventData], int | None]:
    """Check and fold event by event: final state, accepted events, index of the first refusal."""
    state = AGREEMENT.initial()
    accepted: list[EventData] = []
    first_refused: int | None = None
    for index, event in enumerate(events):
        try:
            AGREEMENT.check(state, [event])
        except RuleViolation:
            if first_refused is None:
                first_refused = index
            continue
        state = AGREEMENT.evolve(state, event)
        accepted.append(event)
    return state, accepted, first_refused


@given(_histories)
def test_an_accepted_sequence_folds_like_its_events_one_by_one(events: list[EventData]) -> None:
    state, accepted, _ = _one_by_one(events)
    assert AGREEMENT.check(AGREEMENT.initial(), accepted) == state
    assert fold(accepted) == state
    assert AGREEMENT.fold(AGREEMENT.initial(), accepted) == state
    # Folding further leaves the state it started from as it was (states are shared).
    assert isinstance(state.open_follow_ups, frozenset)
    assert isinstance(state.closed_follow_ups, frozenset)
    before = (sorted(state.open_follow_ups), sorted(state.closed_follow_ups))
    for follow_up_id in before[0]:
        later = AGREEMENT.evolve(
            state, FollowUpCompleted(follow_up_id=follow_up_id, completed_on=day(9))
        )
        assert follow_up_id in later.closed_follow_ups
    assert (sorted(state.open_follow_ups), sorted(state.closed_follow_ups)) == before


@given(_histories)
def test_a_batch_is_refused_exactly_where_one_by_one_first_fails(events: list[EventData]) -> None:
    _, _, first_refused = _one_by_one(events)
    try:
        AGREEMENT.check(AGREEMENT.initial(), events)
    except RuleViolation as error:
        assert error.index == first_refused
    else:
        assert first_refused is None
