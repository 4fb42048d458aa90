"""The partnership read model as a pure fold over one `agreement-…` stream.

`evolve` never refuses and never does I/O: it folds whatever the log holds (the deciders
guard the writes), so the live projection, a rebuild and an as-of replay agree by
construction. A view is replaced, never mutated, so a caller may keep earlier states.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Literal

import msgspec
from msgspec.structs import replace

from events.catalogue import (
    AgreementAmended,
    AgreementEndorsed,
    AgreementKind,
    AgreementSigned,
    AgreementTerminated,
    AgreementWitnessed,
    FollowUpCancelled,
    FollowUpCompleted,
    FollowUpOpened,
    NoteAttached,
    Owner,
    Party,
    Person,
    ResponsibilityAssigned,
    ResponsibilityTransferred,
    owner_id,
)
from events.envelope import RecordedEvent
from projections._decode import event_data

CATEGORY = "agreement"

FollowUpState = Literal["open", "completed", "cancelled"]
Status = Literal["active", "terminated"]


class _View(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the read-model shapes: immutable, every field always present when encoded."""


class OwnerRef(_View, frozen=True, kw_only=True):
    owner_id: str
    unit: str
    person: Person | None = None


class Responsible(OwnerRef, frozen=True, kw_only=True):
    """The agreement's current follow-up owner and how they came to be it."""

    since: dt.date
    assigned_by: str | None = None
    scope: str | None = None


class Witness(_View, frozen=True, kw_only=True):
    person: Person
    witnessed_on: dt.date


class Endorsement(_View, frozen=True, kw_only=True):
    endorser: Person
    on_behalf_of: str
    endorsed_on: dt.date


class FollowUp(_View, frozen=True, kw_only=True):
    follow_up_id: str
    title: str
    owner: OwnerRef
    due_on: dt.date
    state: FollowUpState = "open"
    completed_on: dt.date | None = None
    outcome: str | None = None
    cancelled_on: dt.date | None = None
    reason: str | None = None


class Amendment(_View, frozen=True, kw_only=True):
    amended_on: dt.date
    summary: str


class Note(_View, frozen=True, kw_only=True):
    text: str
    link: str | None = None
    occurred_at: str


class Partnership(_View, frozen=True, kw_only=True):
    agreement_id: str
    kind: AgreementKind
    title: str
    parties: list[Party]
    signed_on: dt.date
    place: str | None = None
    delegation_id: str | None = None
    sectors: list[str] = []
    summary: str | None = None
    announced_on: dt.date | None = None
    signed_at: str
    """Business time of the signing event (`occurred_at`)."""
    witnesses: list[Witness] = []
    endorsements: list[Endorsement] = []
    owner: Responsible | None = None
    follow_ups: list[FollowUp] = []
    amendments: list[Amendment] = []
    notes: list[Note] = []
    status: Status = "active"
    terminated_on: dt.date | None = None
    termination_reason: str | None = None
    version: int
    """The stream version of the last event folded in."""
    position: int
    """The global position of the last event folded in."""


@functools.lru_cache(maxsize=4096)
def owner_ref(owner: Owner) -> OwnerRef:
    """The owner as a view names it (cached: the same few owners recur across the log)."""
    return OwnerRef(owner_id=owner_id(owner), unit=owner.unit, person=owner.person)


def _responsible(
    owner: Owner, since: dt.date, assigned_by: str | None = None, scope: str | None = None
) -> Responsible:
    return Responsible(
        owner_id=owner_ref(owner).owner_id,
        unit=owner.unit,
        person=owner.person,
        since=since,
        assigned_by=assigned_by,
        scope=scope,
    )


def evolve(view: Partnership | None, event: RecordedEvent) -> Partnership | None:
    """The partnership after `event`. None while the stream has no AgreementSigned yet."""
    data = event_data(event)
    if view is None:
        if not isinstance(data, AgreementSigned):
            return None
        return _signed(event, data)
    stamp = {"version": event.version, "position": event.position}
    match data:
        case AgreementWitnessed():
            witness = Witness(person=data.witness, witnessed_on=data.witnessed_on)
            return replace(view, witnesses=[*view.witnesses, witness], **stamp)
        case AgreementEndorsed():
            endorsement = Endorsement(
                endorser=data.endorser, on_behalf_of=data.on_behalf_of, endorsed_on=data.endorsed_on
            )
            return replace(view, endorsements=[*view.endorsements, endorsement], **stamp)
        case ResponsibilityAssigned():
            owner = _responsible(
                data.owner, data.assigned_on, assigned_by=data.assigned_by, scope=data.scope
            )
            return replace(view, owner=owner, **stamp)
        case ResponsibilityTransferred():
            return replace(view, owner=_responsible(data.to_owner, data.transferred_on), **stamp)
        case FollowUpOpened():
            if data.follow_up_id in [f.follow_up_id for f in view.follow_ups]:
                return replace(view, **stamp)
            follow_up = FollowUp(
                follow_up_id=data.follow_up_id,
                title=data.title,
                owner=owner_ref(data.owner),
                due_on=data.due_on,
            )
            return replace(view, follow_ups=[*view.follow_ups, follow_up], **stamp)
        case FollowUpCompleted():
            follow_ups = _close(
                view.follow_ups,
                data.follow_up_id,
                state="completed",
                completed_on=data.completed_on,
                outcome=data.outcome,
            )
            return replace(view, follow_ups=follow_ups, **stamp)
        case FollowUpCancelled():
            follow_ups = _close(
                view.follow_ups,
                data.follow_up_id,
                state="cancelled",
                cancelled_on=data.cancelled_on,
                reason=data.reason,
            )
            return replace(view, follow_ups=follow_ups, **stamp)
        case AgreementAmended():
            amendment = Amendment(amended_on=data.amended_on, summary=data.summary)
            return replace(view, amendments=[*view.amendments, amendment], **stamp)
        case AgreementTerminated():
            return replace(
                view,
                status="terminated",
                terminated_on=data.terminated_on,
                termination_reason=data.reason,
                **stamp,
            )
        case NoteAttached():
            note = Note(text=data.text, link=data.link, occurred_at=event.occurred_at)
            return replace(view, notes=[*view.notes, note], **stamp)
        case _:
            return replace(view, **stamp)


def _signed(event: RecordedEvent, data: AgreementSigned) -> Partnership:
    return Partnership(
        agreement_id=event.stream_id,
        kind=data.kind,
        title=data.title,
        parties=list(data.parties),
        signed_on=data.signed_on,
        place=data.place,
        delegation_id=data.delegation_id,
        sectors=list(data.sectors),
        summary=data.summary,
        announced_on=data.announced_on,
        signed_at=event.occurred_at,
        version=event.version,
        position=event.position,
    )


def _close(follow_ups: list[FollowUp], follow_up_id: str, **changes: object) -> list[FollowUp]:
    """The follow-ups with one open follow-up closed; a second close changes nothing."""
    for index in range(len(follow_ups) - 1, -1, -1):  # recent follow-ups close first
        follow_up = follow_ups[index]
        if follow_up.follow_up_id == follow_up_id:
            if follow_up.state != "open":
                return follow_ups
            closed = replace(follow_up, **changes)
            return [*follow_ups[:index], closed, *follow_ups[index + 1 :]]
    return follow_ups
