"""The deciders for `person-…` streams (what the register did about one person's data) and
`erasure-…` streams (erasures of notes' texts).

| rule | refused when |
| --- | --- |
| `event_type_not_allowed_in_category` | a person stream: anything but PersonalDataErased;  |
| | an erasure stream: anything but NoteErased |
| `person_id_mismatch` | a PersonalDataErased about another person than the stream's first |

Written only by the erasure (`events.erasure`), never by staff over HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence

from events.catalogue import EventData, NoteErased, PersonalDataErased
from events.errors import RuleViolation
from events.rules.base import FoldByEvolving


class PersonDecider(FoldByEvolving[str | None]):
    """The state is the stream's person id once known (the rules need no more)."""

    def initial(self) -> str | None:
        return None

    def evolve(self, state: str | None, event: EventData) -> str | None:
        return event.person_id if isinstance(event, PersonalDataErased) else state

    def check(
        self, state: str | None, new: Sequence[EventData], ids: Sequence[str | None] | None = None
    ) -> str | None:
        for index, event in enumerate(new):
            if not isinstance(event, PersonalDataErased):
                raise RuleViolation(
                    "event_type_not_allowed_in_category",
                    f"{event.type_name} cannot be recorded in a person stream",
                    index,
                )
            if state is not None and event.person_id != state:
                raise RuleViolation(
                    "person_id_mismatch", f"this stream is about person {state}", index
                )
            state = self.evolve(state, event)
        return state


PERSON = PersonDecider()


class NoteErasureDecider(FoldByEvolving[None]):
    def initial(self) -> None:
        return None

    def evolve(self, state: None, event: EventData) -> None:
        return None

    def check(
        self, state: None, new: Sequence[EventData], ids: Sequence[str | None] | None = None
    ) -> None:
        for index, event in enumerate(new):
            if not isinstance(event, NoteErased):
                raise RuleViolation(
                    "event_type_not_allowed_in_category",
                    f"{event.type_name} cannot be recorded in an erasure stream",
                    index,
                )


NOTE_ERASURES = NoteErasureDecider()
