"""The delegation decider: formed once, dates in order, then only notes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.catalogue import (
    AgreementEndorsed,
    AgreementSigned,
    DelegationFormed,
    EventData,
    NoteAttached,
    Party,
    Person,
    TokenIssued,
)
from events.errors import RuleViolation
from events.rules.delegation import DELEGATION, DelegationState

JAMBON = Person(name="Jan Jambon", title="Minister-President of Flanders")
NOTE = NoteAttached(text="programme published", link="https://www.flandersinvestmentandtrade.com")


def formed(
    starts: int = 5, ends: int = 9, destinations: Sequence[str] = ("Tokyo", "Nagoya", "Osaka")
) -> DelegationFormed:
    return DelegationFormed(
        name="Belgian Economic Mission to Japan",
        leader=JAMBON,
        organiser="Flanders Investment & Trade",
        member_count=258,
        starts_on=dt.date(2022, 12, starts),
        ends_on=dt.date(2022, 12, ends),
        destinations=list(destinations),
        country="Japan",
    )


def fold(events: Sequence[EventData]) -> DelegationState:
    state = DELEGATION.initial()
    for event in events:
        state = DELEGATION.evolve(state, event)
    return state


def refusal(past: Sequence[EventData], new: Sequence[EventData]) -> RuleViolation:
    with pytest.raises(RuleViolation) as caught:
        DELEGATION.check(fold(past), new)
    return caught.value


def accepts(past: Sequence[EventData], new: Sequence[EventData]) -> None:
    DELEGATION.check(fold(past), new)


def test_delegation_must_start_with_formation() -> None:
    error = refusal([], [NOTE])
    assert (error.rule, error.index) == ("delegation_must_start_with_formation", 0)
    accepts([], [formed()])


def test_a_batch_is_checked_as_it_folds() -> None:
    accepts([], [formed(), NOTE, NOTE])
    error = refusal([], [formed(), NOTE, formed()])
    assert (error.rule, error.index) == ("already_formed", 2)


def test_already_formed() -> None:
    assert refusal([formed()], [formed()]).rule == "already_formed"
    accepts([formed()], [NOTE])


@pytest.mark.parametrize(
    "foreign",
    [
        AgreementSigned(
            kind="MoC",
            title="FIT-JETRO",
            parties=[Party(organisation="FIT"), Party(organisation="JETRO")],
            signed_on=dt.date(2022, 12, 5),
        ),
        AgreementEndorsed(
            endorser=JAMBON, on_behalf_of="Flanders", endorsed_on=dt.date(2022, 12, 5)
        ),
        TokenIssued(token_id="t1", name="intruder", role="admin", token_hash="0" * 64),
    ],
    ids=["AgreementSigned", "AgreementEndorsed", "TokenIssued"],
)
def test_event_type_not_allowed_in_category(foreign: EventData) -> None:
    assert refusal([], [foreign]).rule == "event_type_not_allowed_in_category"
    assert refusal([formed()], [NOTE, foreign]).rule == "event_type_not_allowed_in_category"
    accepts([formed()], [NOTE])


def test_ends_before_start() -> None:
    error = refusal([], [formed(starts=9, ends=5)])
    assert (error.rule, error.index) == ("ends_before_start", 0)
    accepts([], [formed(starts=5, ends=5)])  # a one-day mission


def test_duplicate_destination() -> None:
    assert refusal([], [formed(destinations=("Tokyo", "Osaka", "tokyo"))]).rule == (
        "duplicate_destination"
    )
    accepts([], [formed(destinations=("Tokyo", "Kyoto"))])


_days = st.integers(min_value=1, max_value=12)
_events: st.SearchStrategy[EventData] = st.one_of(
    st.builds(lambda s, e: formed(s, e), _days, _days),
    st.builds(lambda s, e: formed(s, e, ("Tokyo", "TOKYO")), _days, _days),
    st.just(NOTE),
)


@given(st.lists(_events, max_size=8))
def test_a_batch_checks_like_its_events_one_by_one(events: list[EventData]) -> None:
    state = DELEGATION.initial()
    accepted: list[EventData] = []
    first_refused: int | None = None
    for index, event in enumerate(events):
        try:
            DELEGATION.check(state, [event])
        except RuleViolation:
            first_refused = index if first_refused is None else first_refused
            continue
        state = DELEGATION.evolve(state, event)
        accepted.append(event)
    DELEGATION.check(DELEGATION.initial(), accepted)
    assert fold(accepted) == state
    try:
        DELEGATION.check(DELEGATION.initial(), events)
    except RuleViolation as error:
        assert error.index == first_refused
    else:
        assert first_refused is None
