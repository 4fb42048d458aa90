"""The delegation read model as a fold over one `delegation-…` stream (in place, like the
partnerships': see `projections.partnership_view`)."""

from __future__ import annotations

import datetime as dt
from typing import cast

import msgspec

from events.catalogue import DelegationFormed, EventData, NoteAttached, Person
from projections._trusted import trusted_kinds
from projections.partnership_view import Note, add_note

CATEGORY = "delegation"
_FORMED = frozenset(trusted_kinds(DelegationFormed))
_NOTED = frozenset(trusted_kinds(NoteAttached))


class Delegation(msgspec.Struct, kw_only=True, gc=False):
    """One mission. Mutable for folds in place; treat one you did not fold as read-only."""

    delegation_id: str
    name: str
    leader: Person
    organiser: str | None = None
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


def apply(
    view: Delegation | None,
    data: EventData | None,
    stream_id: str,
    version: int,
    position: int,
    occurred_at: str,
) -> Delegation | None:
    """Fold one event into `view`, in place; returns the view (a new one at the formation).
    `data`: the catalogue's class or its trusted copy (`projections._trusted`)."""
    kind = type(data)
    if kind in _FORMED:
        formed = cast(DelegationFormed, data)
        # A second formation (refused by today's rules) restates the facts, keeping notes.
        return Delegation(
            delegation_id=stream_id,
            name=formed.name,
            leader=formed.leader,
            organiser=formed.organiser,
            member_count=formed.member_count,
            starts_on=formed.starts_on,
            ends_on=formed.ends_on,
            destinations=list(formed.destinations),
            country=formed.country,
            programme=formed.programme,
            notes=[] if view is None else view.notes,
            note_count=0 if view is None else view.note_count,
            version=version,
            position=position,
        )
    if view is None:
        return None
    if kind in _NOTED:
        noted = cast(NoteAttached, data)
        view.note_count += 1
        add_note(view.notes, Note(text=noted.text, link=noted.link, occurred_at=occurred_at))
    view.version = version
    view.position = position
    return view
