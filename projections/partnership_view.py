"""The partnership read model as a fold over one `agreement-…` stream.

`apply` (a handler per event type) never refuses and never does I/O: it folds whatever the
log holds (the deciders guard the writes), so the live projection, a rebuild and an as-of
replay agree by construction. It changes the view it is given, in place: the runner, a
rebuild and an as-of replay own their views and fold millions of events without copying a
document per event; `copy` a view first to keep an earlier state.

A document stays bounded however long the stream: it shows the latest `NOTES_KEPT` notes
and counts them all (`note_count`); every note stays in the log.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, Literal, cast

import msgspec
from msgspec.structs import replace

from events.catalogue import (
    AgreementAmended,
    AgreementAnnounced,
    AgreementEndorsed,
    AgreementKind,
    AgreementRenewed,
    AgreementSigned,
    AgreementTerminated,
    AgreementWitnessed,
    DocumentRecorded,
    EventData,
    FollowUpCancelled,
    FollowUpCompleted,
    FollowUpOpened,
    FollowUpReassigned,
    FollowUpReopened,
    FollowUpRescheduled,
    NoteAttached,
    Owner,
    Party,
    Person,
    Renewal,
    ResponsibilityAssigned,
    ResponsibilityTransferred,
    owner_id,
)
from events.personal import folding_secret
from events.rules.agreement import owner_key
from projections._trusted import trusted_kinds

CATEGORY = "agreement"
NOTES_KEPT = 20
"""Notes a document shows (the latest); `note_count` counts them all."""

FollowUpState = Literal["open", "completed", "cancelled"]
Status = Literal["announced", "active", "expired", "terminated"]
"""As shown: `expired` is judged at read time (`projections.term`); stored documents hold
`announced` (an AgreementAnnounced and no signing yet), `active` or `terminated`."""


class _View(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Base of the read-model parts: immutable, every field always present when encoded.
    (`gc=False`: views hold no reference cycles, so the collector need not track them.)"""


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
    endorser: Person | None = None
    """None where the source does not name who endorsed."""
    on_behalf_of: str | None = None
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
    description: str | None = None
    reopened_on: dt.date | None = None
    """The day it was last reopened (its earlier closing is in the history)."""


class Amendment(_View, frozen=True, kw_only=True):
    amended_on: dt.date
    summary: str


class Document(_View, frozen=True, kw_only=True):
    """A file of the agreement (the signed instrument, an annex), by its fingerprint."""

    document_id: str
    name: str
    media_type: str
    sha256: str
    size: int
    location: str | None = None
    occurred_at: str
    """Business time of the record (`occurred_at`)."""


class Note(_View, frozen=True, kw_only=True):
    text: str
    link: str | None = None
    occurred_at: str


class Partnership(msgspec.Struct, kw_only=True, dict=True):
    """One agreement. Mutable so that folds can work in place: treat a view you did not
    fold yourself as read-only (its parts are frozen; its lists are its own). (`dict=True`:
    a fold keeps an index beside the fields, never encoded; see `_follow_up_ids`.)"""

    agreement_id: str
    kind: AgreementKind
    title: str
    parties: list[Party]
    signed_on: dt.date | None = None
    """None while the agreement is only announced."""
    place: str | None = None
    delegation_id: str | None = None
    sectors: list[str] = []
    summary: str | None = None
    announced_on: dt.date | None = None
    """When it was made public (AgreementAnnounced, or the signing's `announced_on`)."""
    effective_on: dt.date | None = None
    expires_on: dt.date | None = None
    """The recorded expiry: the signing's, moved by each decided renewal (AgreementRenewed)."""
    renewal: Renewal | None = None
    renewal_term_months: int | None = None
    notice_days: int | None = None
    renewed_on: dt.date | None = None
    """The day of the latest decided renewal."""
    next_expires_on: dt.date | None = None
    """When the agreement next expires, judged at read time (an automatic renewal rolls it
    forward by its term); stored as the recorded expiry."""
    signed_at: str | None = None
    """Business time of the signing event (`occurred_at`); None while only announced."""
    witnesses: list[Witness] = []
    endorsements: list[Endorsement] = []
    owner: Responsible | None = None
    follow_ups: list[FollowUp] = []
    amendments: list[Amendment] = []
    documents: list[Document] = []
    """The agreement's files (signed instrument, annexes), in the order recorded."""
    notes: list[Note] = []
    """The latest `NOTES_KEPT` notes, oldest first."""
    note_count: int = 0
    """Every note attached, including those no longer shown."""
    status: Status = "active"
    terminated_on: dt.date | None = None
    termination_reason: str | None = None
    version: int
    """The stream version of the last event folded in."""
    position: int
    """The global position of the last event folded in."""


def owner_ref(owner: Owner) -> OwnerRef:
    """The owner as a view names it, its id keyed by the secret of the log being folded
    (`events.personal.folding`)."""
    return _owner_ref(folding_secret(), owner)


@functools.lru_cache(maxsize=4096)
def _owner_ref(secret: bytes, owner: Owner) -> OwnerRef:
    """(cached: the same few owners recur across the log)"""
    return OwnerRef(owner_id=owner_id(owner, secret), unit=owner.unit, person=owner.person)


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


def listed_on(view: Partnership) -> dt.date:
    """The day lists order an agreement by: its signing, or its announcement until then."""
    day = view.signed_on or view.announced_on
    assert day is not None  # a document starts at a signing or an announcement
    return day


def copy(view: Partnership) -> Partnership:
    """A view that folding in place will not share with `view` (the lists `apply` changes
    are copied; their items are immutable)."""
    return replace(
        view,
        witnesses=list(view.witnesses),
        endorsements=list(view.endorsements),
        follow_ups=list(view.follow_ups),
        amendments=list(view.amendments),
        documents=list(view.documents),
        notes=list(view.notes),
    )


def apply(
    view: Partnership | None,
    data: EventData | None,
    stream_id: str,
    version: int,
    position: int,
    occurred_at: str,
) -> Partnership | None:
    """Fold one event (its decoded data and envelope fields) into `view`, in place; returns
    the view (a new one at the signing). `data`: the catalogue's class or its trusted copy
    (`projections._trusted`); None for a type this code does not know."""
    if view is None:
        if type(data) in _ANNOUNCED:
            announced = cast(AgreementAnnounced, data)
            return _announced(announced, stream_id, version, position)
        if type(data) not in _SIGNED:
            return None
        return _signed(cast(AgreementSigned, data), stream_id, version, position, occurred_at)
    if view.signed_on is None and type(data) in _SIGNED:
        return _signed_after_announcement(
            view, cast(AgreementSigned, data), version, position, occurred_at
        )
    view.version = version
    view.position = position
    if data is not None:
        handler = _HANDLERS.get(type(data))
        if handler is not None:
            handler(view, data, occurred_at)
    return view


def _witnessed(view: Partnership, data: AgreementWitnessed, _at: str) -> None:
    view.witnesses.append(Witness(person=data.witness, witnessed_on=data.witnessed_on))


def _endorsed(view: Partnership, data: AgreementEndorsed, _at: str) -> None:
    view.endorsements.append(
        Endorsement(
            endorser=data.endorser, on_behalf_of=data.on_behalf_of, endorsed_on=data.endorsed_on
        )
    )


def _assigned(view: Partnership, data: ResponsibilityAssigned, _at: str) -> None:
    view.owner = _responsible(
        data.owner, data.assigned_on, assigned_by=data.assigned_by, scope=data.scope
    )


def _transferred(view: Partnership, data: ResponsibilityTransferred, _at: str) -> None:
    """The new owner takes over the mandate as it was given (who assigned it, its scope) and,
    unless told not to, the outgoing owner's open follow-ups."""
    before = view.owner
    view.owner = _responsible(
        data.to_owner,
        data.transferred_on,
        assigned_by=None if before is None else before.assigned_by,
        scope=None if before is None else before.scope,
    )
    if not data.move_open_follow_ups:
        return
    outgoing, incoming = owner_key(data.from_owner), owner_ref(data.to_owner)
    for index, follow_up in enumerate(view.follow_ups):
        if follow_up.state == "open" and _key_of(follow_up.owner) == outgoing:
            view.follow_ups[index] = replace(follow_up, owner=incoming)


def _key_of(ref: OwnerRef) -> tuple[str, str | None]:
    return owner_key(Owner(unit=ref.unit, person=ref.person))


def _opened(view: Partnership, data: FollowUpOpened, _at: str) -> None:
    known = _follow_up_ids(view)
    if data.follow_up_id in known:
        return  # opened twice (refused by today's rules): the first stands
    known.add(data.follow_up_id)
    view.follow_ups.append(
        FollowUp(
            follow_up_id=data.follow_up_id,
            title=data.title,
            owner=owner_ref(data.owner),
            due_on=data.due_on,
            description=data.description,
        )
    )


def _follow_up_ids(view: Partnership) -> set[str]:
    """The ids in `view.follow_ups`, kept beside the view (not a field: never encoded, not
    copied) so that opening a follow-up does not scan every earlier one: a scan would make a
    long partnership's fold quadratic. Made again when the view was made another way (decoded,
    copied); `_opened` is the only code that adds follow-ups, and it keeps both in step."""
    ids: set[str] | None = view.__dict__.get("follow_up_ids")
    if ids is None or len(ids) != len(view.follow_ups):
        ids = view.__dict__["follow_up_ids"] = {f.follow_up_id for f in view.follow_ups}
    return ids


def _completed(view: Partnership, data: FollowUpCompleted, _at: str) -> None:
    _close(
        view.follow_ups,
        data.follow_up_id,
        state="completed",
        completed_on=data.completed_on,
        outcome=data.outcome,
    )


def _cancelled(view: Partnership, data: FollowUpCancelled, _at: str) -> None:
    _close(
        view.follow_ups,
        data.follow_up_id,
        state="cancelled",
        cancelled_on=data.cancelled_on,
        reason=data.reason,
    )


def _rescheduled(view: Partnership, data: FollowUpRescheduled, _at: str) -> None:
    _change_open(view.follow_ups, data.follow_up_id, due_on=data.due_on)


def _reassigned(view: Partnership, data: FollowUpReassigned, _at: str) -> None:
    _change_open(view.follow_ups, data.follow_up_id, owner=owner_ref(data.owner))


def _reopened(view: Partnership, data: FollowUpReopened, _at: str) -> None:
    for index, follow_up in enumerate(view.follow_ups):
        if follow_up.follow_up_id == data.follow_up_id and follow_up.state != "open":
            view.follow_ups[index] = replace(
                follow_up,
                state="open",
                completed_on=None,
                outcome=None,
                cancelled_on=None,
                reason=None,
                reopened_on=data.reopened_on,
            )
            return


def _change_open(follow_ups: list[FollowUp], follow_up_id: str, **changes: object) -> None:
    """Change one open follow-up, in place; a closed (or unknown) one stays as it is."""
    for index, follow_up in enumerate(follow_ups):
        if follow_up.follow_up_id == follow_up_id:
            if follow_up.state == "open":
                follow_ups[index] = replace(follow_up, **changes)
            return


def _amended(view: Partnership, data: AgreementAmended, _at: str) -> None:
    view.amendments.append(Amendment(amended_on=data.amended_on, summary=data.summary))


def _renewed(view: Partnership, data: AgreementRenewed, _at: str) -> None:
    view.expires_on = data.expires_on
    view.next_expires_on = data.expires_on
    view.renewed_on = data.renewed_on


def _terminated(view: Partnership, data: AgreementTerminated, _at: str) -> None:
    view.status = "terminated"
    view.terminated_on = data.terminated_on
    view.termination_reason = data.reason


def _documented(view: Partnership, data: DocumentRecorded, occurred_at: str) -> None:
    if any(d.document_id == data.document_id for d in view.documents):
        return  # recorded twice (refused by today's rules): the first stands
    view.documents.append(
        Document(
            document_id=data.document_id,
            name=data.name,
            media_type=data.media_type,
            sha256=data.sha256,
            size=data.size,
            location=data.location,
            occurred_at=occurred_at,
        )
    )


def _noted(view: Partnership, data: NoteAttached, occurred_at: str) -> None:
    view.note_count += 1
    add_note(view.notes, Note(text=data.text, link=data.link, occurred_at=occurred_at))


_Handler = Callable[[Partnership, Any, str], None]
_BY_CLASS: dict[type, _Handler] = {
    AgreementWitnessed: _witnessed,
    AgreementEndorsed: _endorsed,
    ResponsibilityAssigned: _assigned,
    ResponsibilityTransferred: _transferred,
    FollowUpOpened: _opened,
    FollowUpCompleted: _completed,
    FollowUpCancelled: _cancelled,
    FollowUpRescheduled: _rescheduled,
    FollowUpReassigned: _reassigned,
    FollowUpReopened: _reopened,
    AgreementAmended: _amended,
    AgreementTerminated: _terminated,
    AgreementRenewed: _renewed,
    NoteAttached: _noted,
    DocumentRecorded: _documented,
}
"""What each event type does to a signed partnership (any other type: only the stamps)."""
_HANDLERS = {kind: handler for cls, handler in _BY_CLASS.items() for kind in trusted_kinds(cls)}
_SIGNED = frozenset(trusted_kinds(AgreementSigned))
_ANNOUNCED = frozenset(trusted_kinds(AgreementAnnounced))


def add_note(notes: list[Note], note: Note) -> None:
    """Append `note`, keeping only the latest `NOTES_KEPT`."""
    notes.append(note)
    if len(notes) > NOTES_KEPT:
        del notes[0]


def _signed(
    data: AgreementSigned, stream_id: str, version: int, position: int, occurred_at: str
) -> Partnership:
    return Partnership(
        agreement_id=stream_id,
        kind=data.kind,
        title=data.title,
        parties=list(data.parties),
        signed_on=data.signed_on,
        place=data.place,
        delegation_id=data.delegation_id,
        sectors=list(data.sectors),
        summary=data.summary,
        announced_on=data.announced_on,
        effective_on=data.effective_on,
        expires_on=data.expires_on,
        renewal=data.renewal,
        renewal_term_months=data.renewal_term_months,
        notice_days=data.notice_days,
        next_expires_on=data.expires_on,
        signed_at=occurred_at,
        version=version,
        position=position,
    )


def _announced(
    data: AgreementAnnounced, stream_id: str, version: int, position: int
) -> Partnership:
    return Partnership(
        agreement_id=stream_id,
        kind=data.kind,
        title=data.title,
        parties=list(data.parties),
        delegation_id=data.delegation_id,
        sectors=list(data.sectors),
        summary=data.summary,
        announced_on=data.announced_on,
        status="announced",
        version=version,
        position=position,
    )


def _signed_after_announcement(
    view: Partnership, data: AgreementSigned, version: int, position: int, occurred_at: str
) -> Partnership:
    """The signing's document, keeping what was recorded since the announcement (its
    endorsements, notes; a call-off) and the announcement's date and text where the signing
    has none."""
    signed = _signed(data, view.agreement_id, version, position, occurred_at)
    signed.announced_on = data.announced_on or view.announced_on
    signed.summary = data.summary or view.summary
    signed.sectors = list(data.sectors) or list(view.sectors)
    signed.delegation_id = data.delegation_id or view.delegation_id
    signed.endorsements = view.endorsements
    signed.notes = view.notes
    signed.documents = view.documents
    signed.note_count = view.note_count
    signed.status = "terminated" if view.status == "terminated" else "active"
    signed.terminated_on = view.terminated_on
    signed.termination_reason = view.termination_reason
    return signed


def _close(follow_ups: list[FollowUp], follow_up_id: str, **changes: object) -> None:
    """Close one open follow-up, in place; a second close changes nothing."""
    for index in range(len(follow_ups) - 1, -1, -1):  # recent follow-ups close first
        follow_up = follow_ups[index]
        if follow_up.follow_up_id == follow_up_id:
            if follow_up.state == "open":
                follow_ups[index] = replace(follow_up, **changes)
            return
