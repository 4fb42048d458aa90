"""The delegation read model as a fold over one `delegation-…` stream (in place, like the
partnerships': see `projections.partnership_view`)."""

from __future__ import annotations

import datetime as dt

import msgspec
from msgspec.structs import replace

from events.catalogue import DelegationFormed, EventData, NoteAttached, Person
from events.envelope import RecordedEvent
from projections._decode import event_data
from projections.partnership_view import Note, add_note

CATEGORY = "delegation"


class Delegation(msgspec.Struct, kw_only=True, gc=False):
    """One mission. Mutable for folds in place; treat one you did not fold as read-only."""

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
    """The latest `partnership_view.NOTES_KEPT` notes, oldest first."""
    note_count: int = 0
    version: int
    position: int


def evolve(view: Delegation | None, event: RecordedEvent) -> Delegation | None:
    """The delegation after `event`, leaving `view` as it was. None while the stream has no
    DelegationFormed yet."""
    own = None if view is None else replace(view, notes=list(view.notes))
    return apply(
        own, event_data(event), event.stream_id, event.version, event.position, event.occurred_at
    )


def apply(
    view: Delegation | None,
    data: EventData | None,
    stream_id: str,
    version: int,
    position: int,
    occurred_at: str,
) -> Delegation | None:
    """Fold one event into `view`, in place; returns the view (a new one at the formation)."""
    match data:
        case DelegationFormed():
            # A second formation (refused by today's rules) restates the facts, keeping notes.
            return Delegation(
                delegation_id=stream_id,
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
                note_count=0 if view is None else view.note_count,
                version=version,
                position=position,
            )
        case _ if view is None:
            return None
        case NoteAttached():
            view.note_count += 1
            add_note(view.notes, Note(text=data.text, link=data.link, occurred_at=occurred_at))
    view.version = version
    view.position = position
    return view
