"""The delegation read model as a pure fold over one `delegation-…` stream."""

from __future__ import annotations

import datetime as dt

import msgspec
from msgspec.structs import replace

from events.catalogue import DelegationFormed, NoteAttached, Person
from events.envelope import RecordedEvent
from projections._decode import event_data
from projections.partnership_view import Note

CATEGORY = "delegation"


class Delegation(msgspec.Struct, frozen=True, kw_only=True):
    delegation_id: str
    name: str
    leader: Person
    organiser: str
    member_count: int
    starts_on: dt.date
    ends_on: dt.date
    destinations: list[str]
    country: str
    programme: str | None = None
    notes: list[Note] = []
    version: int
    position: int


def evolve(view: Delegation | None, event: RecordedEvent) -> Delegation | None:
    """The delegation after `event`. None while the stream has no DelegationFormed yet."""
    data = event_data(event)
    stamp = {"version": event.version, "position": event.position}
    match data:
        case DelegationFormed():
            # A second formation (refused by today's rules) restates the facts, keeping notes.
            return Delegation(
                delegation_id=event.stream_id,
                name=data.name,
                leader=data.leader,
                organiser=data.organiser,
                member_count=data.member_count,
                starts_on=data.starts_on,
                ends_on=data.ends_on,
                destinations=list(data.destinations),
                country=data.country,
                programme=data.programme,
                notes=[] if view is None else view.notes,
                **stamp,
            )
        case NoteAttached() if view is not None:
            note = Note(text=data.text, link=data.link, occurred_at=event.occurred_at)
            return replace(view, notes=[*view.notes, note], **stamp)
        case _:
            return None if view is None else replace(view, **stamp)
