"""What the rules know of a stream's recorded events, and the rules of `EventCorrected`.

A correction names an earlier event of its stream by `event_id` and patches its data (JSON
Merge Patch, `events.merge_patch`). The deciders keep the stream's events with their ids
(`Recorded`) so they can find the corrected event, patch it, and fold the corrected data: a
corrected owner's name is the one the next hand-over's `from_owner` must match.

| rule | refused when |
| --- | --- |
| `correction_target_unknown` | `corrects` is no event of this stream (another stream's, or none) |
| `correction_of_correction` | the corrected event is itself an EventCorrected |
| `correction_invalid_for_type` | the patched data is not valid for the corrected event's type |
| `correction_changes_nothing` | the patched data equals the data as it stands |
| `correction_breaks_rule` | the stream, refolded with the patched data, would break a rule |

A correction of an event corrected before applies to the data as last corrected. Events
recorded under older rules that a refold refuses anyway do not block a correction: only a
refusal the correction itself brings about does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import msgspec

from events.catalogue import EventCorrected, EventData, decoder_for
from events.errors import RuleViolation
from events.merge_patch import apply_merge_patch
from events.validation import _dates_out_of_range

S = TypeVar("S")


class _Log:
    """A stream's events in order, appended to in place by the newest state that owns it."""

    __slots__ = ("events", "ids", "index")

    def __init__(self) -> None:
        self.ids: list[str | None] = []
        self.events: list[EventData] = []
        self.index: dict[str, int] = {}


@dataclass(frozen=True, slots=True, eq=False)
class Recorded:
    """One stream's first `length` events as the rules see them, with corrections applied.

    States share one `_Log`: a state whose length is the log's appends in place, an older
    one (a refused batch left events past it) copies its prefix first. So folding an
    append costs what it appends, not the stream's length."""

    log: _Log = field(default_factory=_Log)
    length: int = 0
    corrected: Mapping[int, EventData] = field(default_factory=dict)
    """Event index -> its data as last corrected."""

    def appended(self, event_id: str | None, event: EventData) -> Recorded:
        appending = Appending(self)
        appending.append(event_id, event)
        return appending.frozen()

    def find(self, event_id: str) -> int | None:
        """The index of the event with this id, if it is among these events."""
        found = self.log.index.get(event_id)
        return found if found is not None and found < self.length else None

    def data(self, index: int) -> EventData:
        """An event's data as last corrected."""
        return self.corrected.get(index, self.log.events[index])

    def with_correction(self, index: int, data: EventData) -> Recorded:
        return Recorded(self.log, self.length, {**self.corrected, index: data})

    def facts(self) -> Iterator[EventData]:
        """The events as last corrected, corrections left out (their effect is in the data)."""
        for index in range(self.length):
            event = self.data(index)
            if not isinstance(event, EventCorrected):
                yield event


class Appending:
    """A `Recorded` being appended to, event by event, without a new state per event."""

    __slots__ = ("corrected", "length", "log")

    def __init__(self, recorded: Recorded) -> None:
        self.log = recorded.log
        self.length = recorded.length
        self.corrected = recorded.corrected

    def append(self, event_id: str | None, event: EventData) -> None:
        log = self.log
        if self.length != len(log.events):  # another state appended past ours: copy ours
            shared, log = log, _Log()
            log.ids = shared.ids[: self.length]
            log.events = shared.events[: self.length]
            log.index = {i: n for n, i in enumerate(log.ids) if i is not None}
            self.log = log
        log.ids.append(event_id)
        log.events.append(event)
        if event_id is not None:
            log.index[event_id] = self.length
        self.length += 1

    def frozen(self) -> Recorded:
        return Recorded(self.log, self.length, self.corrected)


def patched(recorded: Recorded, correction: EventCorrected, index: int) -> tuple[int, EventData]:
    """The corrected event's index and its data with `correction` applied, or the refusal."""
    target = recorded.find(correction.corrects)
    if target is None:
        raise RuleViolation(
            "correction_target_unknown",
            f"no event {correction.corrects!r} in this stream (an event is corrected in its "
            "own stream)",
            index,
        )
    current = recorded.data(target)
    if isinstance(current, EventCorrected):
        raise RuleViolation(
            "correction_of_correction",
            f"event {correction.corrects!r} is a correction: correct the event it corrects",
            index,
        )
    merged = apply_merge_patch(msgspec.to_builtins(current), correction.changes)
    decoder = decoder_for(current.type_name)
    assert decoder is not None
    try:
        data = decoder.decode(msgspec.json.encode(merged))
    except msgspec.ValidationError as error:
        raise RuleViolation(
            "correction_invalid_for_type",
            f"the corrected {current.type_name} would not be valid: {_at_changes(str(error))}",
            index,
        ) from None
    for problem in _dates_out_of_range(data, "$.changes"):
        raise RuleViolation(
            "correction_invalid_for_type",
            f"the corrected {current.type_name} would not be valid: {problem.message} - at "
            f"`{problem.path}`",
            index,
        )
    if data == current:
        raise RuleViolation(
            "correction_changes_nothing",
            f"the changes leave {current.type_name} {correction.corrects!r} as it is",
            index,
        )
    return target, data


def _at_changes(message: str) -> str:
    """A decoder's message with its path (`$.title`) put where the client wrote it."""
    return message.replace("`$", "`$.changes", 1) if "`$" in message else message


def rechecked(
    recheck: Callable[[Sequence[EventData]], S],
    refold: Callable[[Sequence[EventData]], S],
    before: Recorded,
    after: Recorded,
    index: int,
) -> S:
    """The state of the stream refolded, with its rules, from the corrected events `after`.

    A refusal is the correction's (`correction_breaks_rule`) unless the events as they stood
    (`before`) are refused the same way: those were recorded under older rules, and the
    state is then `refold`ed without rules, as the log is."""
    try:
        return recheck(list(after.facts()))
    except RuleViolation as broken:
        try:
            recheck(list(before.facts()))
        except RuleViolation as old:
            if (old.rule, old.index) == (broken.rule, broken.index):
                return refold(list(after.facts()))
        event = list(after.facts())[broken.index or 0]
        raise RuleViolation(
            "correction_breaks_rule",
            f"with this correction, {event.type_name} would break `{broken.rule}`: {broken.detail}",
            index,
        ) from None


__all__ = ["Recorded", "patched", "rechecked"]
