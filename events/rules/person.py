"""The decider for `person-…` streams: what the register did about one person's data.

| rule | refused when |
| --- | --- |
| `event_type_not_allowed_in_category` | anything but PersonalDataErased |
| `person_id_mismatch` | `person_id` is not the stream's id (`person-<person_id>`) |

Written only by the erasure (`events.erasure`), never by staff over HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence

from events.catalogue import EventData, PersonalDataErased
from events.errors import RuleViolation
from events.rules.base import FoldByEvolving


class PersonDecider(FoldByEvolving[str | None]):
    """The state is the stream's person id once known (the rules need no more)."""

    def initial(self) -> str | None:
        return None

    def evolve(self, state: str | None, event: EventData) -> str | None:
        return event.person_id if isinstance(event, PersonalDataErased) else state

    def check(self, state: str | None, new: Sequence[EventData]) -> str | None:
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
