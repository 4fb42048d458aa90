"""The decider for `delegation-…` streams: a mission abroad, formed once, annotated after.

| rule | refused when |
| --- | --- |
| `event_type_not_allowed_in_category` | anything but DelegationFormed or NoteAttached |
| `delegation_must_start_with_formation` | the first event of the stream is not DelegationFormed |
| `already_formed` | a second DelegationFormed |
| `ends_before_start` | `ends_on` is before `starts_on` (a one-day mission is fine) |
| `duplicate_destination` | the same city twice among the destinations (case-insensitive) |

`evolve` never refuses: it folds whatever the log holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from events.catalogue import DelegationFormed, EventData, NoteAttached
from events.errors import RuleViolation
from events.rules.base import FoldByEvolving

_ALLOWED: frozenset[type[EventData]] = frozenset({DelegationFormed, NoteAttached})


@dataclass(frozen=True, slots=True)
class DelegationState:
    formed: bool = False


class DelegationDecider(FoldByEvolving[DelegationState]):
    """Pure rules for delegation streams (see the module docstring for the table)."""

    def initial(self) -> DelegationState:
        return DelegationState()

    def evolve(self, state: DelegationState, event: EventData) -> DelegationState:
        if isinstance(event, DelegationFormed) and not state.formed:
            return DelegationState(formed=True)
        return state

    def check(self, state: DelegationState, new: Sequence[EventData]) -> DelegationState:
        for index, event in enumerate(new):
            _check_one(state, event, index)
            state = self.evolve(state, event)
        return state


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
