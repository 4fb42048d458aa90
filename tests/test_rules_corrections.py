"""EventCorrected in the deciders: each refusal is named, and the state folds corrected data."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalogue import AgreementSigned, EventCorrected, EventData, NoteAttached, Owner
from events.errors import RuleViolation
from events.rules.agreement import AGREEMENT, AgreementState
from events.rules.delegation import DELEGATION
from tests.test_rules_agreement import (
    ELS,
    OFFICE,
    assigned,
    completed,
    opened,
    signed,
    terminated,
    transferred,
)
from tests.test_rules_delegation import formed


def correct(event_id: str, reason: str = "typo in the register", **changes: Any) -> EventCorrected:
    return EventCorrected(corrects=event_id, changes=changes, reason=reason)


def past(*events: EventData) -> AgreementState:
    """The state after `events`, recorded with ids e0, e1, …"""
    return AGREEMENT.fold(AGREEMENT.initial(), events, [f"e{n}" for n in range(len(events))])


def refusal(state: AgreementState, *new: EventData) -> RuleViolation:
    with pytest.raises(RuleViolation) as caught:
        AGREEMENT.check(state, new, [f"n{n}" for n in range(len(new))])
    return caught.value


def test_a_correction_is_accepted_and_kept_in_the_stream() -> None:
    state = past(signed(), assigned())
    after = AGREEMENT.check(state, [correct("e0", title="MoC on advanced semiconductors")], ["c"])
    assert after.recorded.length == 3
    assert after.signed_on == dt.date(2022, 12, 5)


def test_correcting_an_event_not_in_this_stream_is_refused() -> None:
    error = refusal(past(signed()), correct("elsewhere", title="MoC"))
    assert (error.rule, error.index) == ("correction_target_unknown", 0)
    assert "'elsewhere'" in error.detail


def test_a_correction_cannot_be_the_first_event() -> None:
    error = refusal(AGREEMENT.initial(), correct("e0", title="MoC"))
    assert error.rule == "stream_must_start_with_signing"


def test_correcting_a_correction_is_refused() -> None:
    state = AGREEMENT.fold(
        AGREEMENT.initial(), [signed(), correct("e0", title="MoC on chips")], ["e0", "e1"]
    )
    assert refusal(state, correct("e1", reason="x")).rule == "correction_of_correction"


def test_a_patch_that_makes_the_data_invalid_names_the_field() -> None:
    error = refusal(past(signed()), correct("e0", signed_on="5 December"))
    assert error.rule == "correction_invalid_for_type"
    assert "$.changes.signed_on" in error.detail


def test_a_patch_that_removes_a_required_field_is_invalid() -> None:
    error = refusal(past(signed()), correct("e0", title=None))
    assert error.rule == "correction_invalid_for_type"
    assert "title" in error.detail


def test_a_patch_with_an_unknown_field_is_invalid() -> None:
    error = refusal(past(signed()), correct("e0", titel="MoC"))
    assert error.rule == "correction_invalid_for_type"
    assert "titel" in error.detail


def test_a_patched_date_outside_the_business_years_is_invalid() -> None:
    error = refusal(past(signed()), correct("e0", signed_on="0222-12-05"))
    assert error.rule == "correction_invalid_for_type"
    assert "$.changes.signed_on" in error.detail


@pytest.mark.parametrize("changes", [{}, {"title": "MoC on semiconductors"}])
def test_a_patch_that_changes_nothing_is_refused(changes: dict[str, Any]) -> None:
    error = refusal(past(signed()), EventCorrected(corrects="e0", changes=changes, reason="r"))
    assert error.rule == "correction_changes_nothing"


def test_a_correction_that_breaks_the_streams_rules_is_refused() -> None:
    # the follow-up is due on the 20th: a signing on the 21st would come after it
    state = past(signed(), opened(due=20))
    error = refusal(state, correct("e0", signed_on="2022-12-21"))
    assert error.rule == "correction_breaks_rule"
    assert "follow_up_due_before_signing" in error.detail
    AGREEMENT.check(state, [correct("e0", signed_on="2022-12-19")], ["c"])


def test_a_correction_that_duplicates_a_party_is_refused() -> None:
    error = refusal(past(signed()), correct("e0", parties=[{"organisation": "imec"}] * 2))
    assert error.rule == "correction_breaks_rule"
    assert "duplicate_party" in error.detail


def test_the_next_transfer_must_name_the_corrected_owner() -> None:
    misspelt = {"unit": "FIT Tokyo office", "person": {"name": "Els Verhulst"}}
    state = past(signed(), assigned(owner=OFFICE))
    state = AGREEMENT.check(state, [correct("e1", owner=misspelt)], ["c"])
    assert refusal(state, transferred(from_owner=OFFICE, to_owner=ELS)).rule == (
        "transfer_from_not_current_owner"
    )
    AGREEMENT.check(state, [transferred(from_owner=ELS, to_owner=OFFICE)])


def test_a_replay_folds_the_corrected_data_like_the_check() -> None:
    renamed = {"unit": "FIT Tokyo office", "person": {"name": "Els Verhulst"}}
    events = [signed(), assigned(owner=OFFICE), correct("e1", owner=renamed)]
    replayed = past(*events)
    checked = AGREEMENT.check(AGREEMENT.initial(), events, ["e0", "e1", "e2"])
    assert replayed == checked
    assert replayed.owner == ("FIT Tokyo office", "Els Verhulst")


def test_a_corrected_follow_up_id_is_the_one_that_exists() -> None:
    state = past(signed(), opened("f1"))
    state = AGREEMENT.check(state, [correct("e1", follow_up_id="f2")], ["c"])
    assert refusal(state, completed("f1")).rule == "follow_up_unknown"
    AGREEMENT.check(state, [completed("f2")])


def test_an_event_of_the_same_batch_can_be_corrected() -> None:
    AGREEMENT.check(AGREEMENT.initial(), [signed(), correct("a", title="MoC on chips")], ["a", "b"])


def test_a_terminated_agreement_can_still_be_corrected() -> None:
    state = past(signed(), terminated())
    AGREEMENT.check(
        state,
        [EventCorrected(corrects="e1", changes={"reason": "expired"}, reason="wrong reason")],
        ["c"],
    )


def test_a_refused_batch_leaves_the_state_it_started_from_usable() -> None:
    state = past(signed())
    refusal(state, NoteAttached(text="a"), correct("nope", title="x"))
    after = AGREEMENT.check(state, [correct("e0", title="MoC on chips")], ["c"])
    assert after.recorded.length == 2
    (fact,) = after.recorded.facts()  # the refused note is not among them
    assert isinstance(fact, AgreementSigned) and fact.title == "MoC on chips"
    assert after.recorded.find("c") == 1


def test_a_delegation_correction_follows_the_same_rules() -> None:
    state = DELEGATION.fold(DELEGATION.initial(), [formed()], ["d0"])
    DELEGATION.check(state, [correct("d0", member_count=260)], ["c"])

    def refused(*new: EventData) -> str:
        with pytest.raises(RuleViolation) as caught:
            DELEGATION.check(state, new, ["c"])
        return caught.value.rule

    assert refused(correct("nope", member_count=1)) == "correction_target_unknown"
    assert refused(correct("d0", member_count=0)) == "correction_invalid_for_type"
    assert refused(correct("d0", member_count=258)) == "correction_changes_nothing"
    assert refused(correct("d0", ends_on="2022-12-01")) == "correction_breaks_rule"


_OWNERS = [OFFICE, ELS, Owner(unit="FIT Brussels")]


@st.composite
def _candidates(draw: st.DrawFn) -> list[EventData]:
    """Events that may or may not be accepted: the decider sorts them out."""
    events: list[EventData] = [signed()]
    for n in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["assign", "transfer", "open", "complete", "correct"]))
        owner = draw(st.sampled_from(_OWNERS))
        match kind:
            case "assign":
                events.append(assigned(owner=owner))
            case "transfer":
                events.append(
                    transferred(from_owner=draw(st.sampled_from(_OWNERS)), to_owner=owner)
                )
            case "open":
                events.append(opened(f"f{draw(st.integers(0, 2))}", due=draw(st.integers(4, 25))))
            case "complete":
                events.append(completed(f"f{draw(st.integers(0, 2))}"))
            case _:
                target = draw(st.integers(0, len(events) - 1))
                changes = draw(
                    st.sampled_from(
                        [
                            {"owner": msgspec.to_builtins(owner)},
                            {"signed_on": f"2022-12-{draw(st.integers(1, 28)):02d}"},
                            {"due_on": f"2022-12-{draw(st.integers(1, 28)):02d}"},
                            {"follow_up_id": f"f{draw(st.integers(0, 2))}"},
                            {"title": f"title {n}"},
                        ]
                    )
                )
                events.append(EventCorrected(corrects=f"e{target}", changes=changes, reason="r"))
    return events


@settings(max_examples=150, deadline=None)
@given(_candidates())
def test_a_replay_reaches_the_state_the_checks_reached(candidates: list[EventData]) -> None:
    state, accepted, ids = AGREEMENT.initial(), [], []
    for n, event in enumerate(candidates):
        try:
            state = AGREEMENT.check(state, [event], [f"e{n}"])
        except RuleViolation:
            continue
        accepted.append(event)
        ids.append(f"e{n}")
    assert AGREEMENT.fold(AGREEMENT.initial(), accepted, ids) == state
    assert AGREEMENT.check(AGREEMENT.initial(), accepted, ids) == state
