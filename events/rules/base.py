"""The shape of a decider: pure functions over one stream's events, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Generic, Protocol, TypeVar

from events.catalogue import EventData
from events.errors import RuleViolation

S = TypeVar("S")


class Decider(Protocol, Generic[S]):
    """`initial()` is the state of an empty stream; `evolve` folds one recorded event;
    `check` raises `RuleViolation` (with the rule's stable name and the index of the offending
    event in `new`) if appending `new` to a stream in `state` breaks a rule, and otherwise
    returns the state after `new` (it folds as it checks, so the writer need not fold again).
    `fold` folds many recorded events (the writer catching up with a stream's past).
    `ids` are the events' `event_id`s, in order, where the writer has them: a correction
    names the event it corrects by its id (deciders without corrections ignore them)."""

    def initial(self) -> S: ...

    def evolve(self, state: S, event: EventData) -> S: ...

    def fold(
        self, state: S, events: Iterable[EventData], ids: Iterable[str | None] | None = None
    ) -> S: ...

    def check(
        self, state: S, new: Sequence[EventData], ids: Sequence[str | None] | None = None
    ) -> S: ...


class FoldByEvolving(Generic[S]):
    """`fold` as one `evolve` after another, for deciders whose states are cheap to copy."""

    def evolve(self, state: S, event: EventData) -> S:
        raise NotImplementedError

    def fold(
        self, state: S, events: Iterable[EventData], ids: Iterable[str | None] | None = None
    ) -> S:
        for event in events:
            state = self.evolve(state, event)
        return state


__all__ = ["Decider", "EventData", "FoldByEvolving", "RuleViolation"]
