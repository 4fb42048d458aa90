"""The decider for `delegation-…` streams: a mission abroad, formed once, annotated after.

| rule | refused when |
| --- | --- |
| `event_type_not_allowed_in_category` | anything but DelegationFormed or NoteAttached |
| `delegation_must_start_with_formation` | the first event of the stream is not DelegationFormed |
| `already_formed` | a second DelegationFormed |
| `ends_before_start` | `ends_on` is before `starts_on` (a one-day mission is fine) |
| `duplicate_destination` | the same city twice among the destinations (case-insensitive) |

Corrections (EventCorrected) follow the rules of `events.rules.corrections`.

`evolve` never refuses: it folds whatever the log holds.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from events.catalogue import DelegationFormed, EventCorrected, EventData, NoteAttached
from events.errors import RuleViolation
from events.rules import corrections
from events.rules.corrections import Recorded

_ALLOWED: frozenset[type[EventData]] = frozenset({DelegationFormed, NoteAttached, EventCorrected})


@dataclass(frozen=True, slots=True)
class DelegationState:
    formed: bool = False
    recorded: Recorded = field(default_factory=Recorded, compare=False, repr=False)
    """The stream's events with their ids, as corrected: what a correction patches."""


class DelegationDecider:
    """Pure rules for delegation streams (see the module docstring for the table)."""

    def initial(self) -> DelegationState:
        return DelegationState()

    def evolve(self, state: DelegationState, event: EventData) -> DelegationState:
        return self.fold(state, (event,))

    def fold(
        self,
        state: DelegationState,
        events: Iterable[EventData],
        ids: Iterable[str | None] | None = None,
    ) -> DelegationState:
        every_id = itertools.chain(ids or (), itertools.repeat(None))
        for event, event_id in zip(events, every_id, strict=False):
            state = _evolve(state, event, event_id)
        return state

    def check(
        self,
        state: DelegationState,
        new: Sequence[EventData],
        ids: Sequence[str | None] | None = None,
    ) -> DelegationState:
        every_id = itertools.chain(ids or (), itertools.repeat(None))
        for index, (event, event_id) in enumerate(zip(new, every_id, strict=False)):
            _check_one(state, event, index)
            if isinstance(event, EventCorrected):
                target, data = corrections.patched(state.recorded, event, index)
                corrections.rechecked(
                    lambda facts: self.check(self.initial(), facts),
                    lambda facts: self.fold(self.initial(), facts),
                    state.recorded,
                    state.recorded.with_correction(target, data),
                    index,
                )
            state = _evolve(state, event, event_id)
        return state


def _evolve(state: DelegationState, event: EventData, event_id: str | None) -> DelegationState:
    recorded = state.recorded.appended(event_id, event)
    if isinstance(event, EventCorrected):
        try:
            target, data = corrections.patched(state.recorded, event, 0)
        except RuleViolation:
            return DelegationState(state.formed, recorded)
        return DelegationState(state.formed, recorded.with_correction(target, data))
    return DelegationState(state.formed or isinstance(event, DelegationFormed), recorded)


def _check_one(state: DelegationState, event: EventData, index: int) -> None:
    if type(event) not in _ALLOWED:
        raise RuleViolation(
            "event_type_not_allowed_in_category",
            f"{event.type_name} cannot be recorded in a delegation stream",
            index,
        )
    if not state.formed:
        if not isinstance(event, DelegationFormed):
            raise RuleViolation(
                "delegation_must_start_with_formation",
                f"a delegation stream starts with DelegationFormed, not {event.type_name}",
                index,
            )
        _check_formation(event, index)
    elif isinstance(event, DelegationFormed):
        raise RuleViolation("already_formed", "the delegation was already formed", index)


def _check_formation(event: DelegationFormed, index: int) -> None:
    if event.ends_on < event.starts_on:
        raise RuleViolation(
            "ends_before_start",
            f"ends_on {event.ends_on} is before starts_on {event.starts_on}",
            index,
        )
    seen: set[str] = set()
    for city in event.destinations:
        key = " ".join(city.casefold().split())
        if key in seen:
            raise RuleViolation("duplicate_destination", f"{city!r} appears more than once", index)
        seen.add(key)


DELEGATION = DelegationDecider()
