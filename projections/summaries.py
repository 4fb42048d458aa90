"""What a list shows of each item: a summary, small and of bounded size, never the document.

A list page must cost the same however long an item's history is, so its items carry ids,
names, status, owner, counts and the next due date, and the full document stays at the
item's own URL. An owner's document is bounded too: its counts, and its open and overdue
follow-ups up to a limit; completed and cancelled ones are only counted there (a work list
of follow-ups serves them).
"""

from __future__ import annotations

import datetime as dt

import msgspec

from events.catalogue import Person
from projections.delegation_view import Delegation
from projections.owner_view import AgreementRef, FollowUpCounts, OwnerFollowUp, OwnerSummary
from projections.partnership_view import OwnerRef, Partnership, Status
from projections.term import next_expiry, status_on


class FollowUpTally(msgspec.Struct, frozen=True, kw_only=True):
    open: int
    completed: int
    cancelled: int


class PartnershipSummary(msgspec.Struct, frozen=True, kw_only=True):
    agreement_id: str
    kind: str
    title: str
    parties: list[str]
    """The parties' organisations, in the order signed."""
    status: Status
    """Judged on the day of the read (`expired` past an expiry nothing renewed)."""
    owner: OwnerRef | None
    signed_on: dt.date | None
    """None while the agreement is only announced (`announced_on`)."""
    announced_on: dt.date | None = None
    """When it was made public, if announced before (or without) a signing."""
    next_expires_on: dt.date | None
    """When it next expires, as of the day of the read; None: runs until terminated."""
    delegation_id: str | None
    follow_ups: FollowUpTally
    next_due_on: dt.date | None
    """The earliest due date among its open follow-ups."""
    note_count: int
    version: int
    position: int


class DelegationSummary(msgspec.Struct, frozen=True, kw_only=True):
    delegation_id: str
    name: str
    leader: Person
    organiser: str | None = None
    member_count: int
    starts_on: dt.date
    ends_on: dt.date
    country: str
    destinations: list[str]
    note_count: int
    version: int
    position: int


class OwnerListItem(msgspec.Struct, frozen=True, kw_only=True):
    owner_id: str
    unit: str
    person: Person | None
    agreement_count: int
    counts: FollowUpCounts
    next_due_on: dt.date | None
    """The earliest due date among its open follow-ups."""
    today: dt.date
    """The date `counts.overdue` was judged on."""


class OwnerDocument(msgspec.Struct, frozen=True, kw_only=True):
    owner_id: str
    unit: str
    person: Person | None
    agreements: list[AgreementRef]
    """The agreements it is responsible for, by id, at most `shown_limit` (`agreement_count`
    counts them all; `/partnerships?owner=` lists every one)."""
    agreement_count: int
    counts: FollowUpCounts
    open: list[OwnerFollowUp]
    """Open follow-ups, earliest due first, at most `shown_limit` (`counts.open` has them all)."""
    overdue: list[OwnerFollowUp]
    """The open ones due before `today`, earliest first, at most `shown_limit`."""
    shown_limit: int
    elsewhere: str
    """Where the follow-ups not listed here are (completed, cancelled, open past the limit)."""
    today: dt.date


def partnership_summary(view: Partnership, today: dt.date) -> PartnershipSummary:
    """The list item of `view` as shown on `today` (its status and expiry depend on the day)."""
    open_due = [f.due_on for f in view.follow_ups if f.state == "open"]
    owner = view.owner
    return PartnershipSummary(
        agreement_id=view.agreement_id,
        kind=str(view.kind),
        title=view.title,
        parties=[party.organisation for party in view.parties],
        status=status_on(view, today),
        owner=None
        if owner is None
        else OwnerRef(owner_id=owner.owner_id, unit=owner.unit, person=_person(owner.person)),
        signed_on=view.signed_on,
        announced_on=view.announced_on,
        next_expires_on=next_expiry(view, today),
        delegation_id=view.delegation_id,
        follow_ups=FollowUpTally(
            open=len(open_due),
            completed=sum(1 for f in view.follow_ups if f.state == "completed"),
            cancelled=sum(1 for f in view.follow_ups if f.state == "cancelled"),
        ),
        next_due_on=min(open_due, default=None),
        note_count=view.note_count,
        version=view.version,
        position=view.position,
    )


def delegation_summary(view: Delegation) -> DelegationSummary:
    return DelegationSummary(
        delegation_id=view.delegation_id,
        name=view.name,
        leader=_person(view.leader) or view.leader,
        organiser=view.organiser,
        member_count=view.member_count,
        starts_on=view.starts_on,
        ends_on=view.ends_on,
        country=view.country,
        destinations=list(view.destinations),
        note_count=view.note_count,
        version=view.version,
        position=view.position,
    )


def owner_list_item(summary: OwnerSummary) -> OwnerListItem:
    return OwnerListItem(
        owner_id=summary.owner_id,
        unit=summary.unit,
        person=summary.person,
        agreement_count=len(summary.agreements),
        counts=summary.counts,
        next_due_on=summary.open[0].due_on if summary.open else None,
        today=summary.today,
    )


def owner_document(summary: OwnerSummary, shown_limit: int) -> OwnerDocument:
    return OwnerDocument(
        owner_id=summary.owner_id,
        unit=summary.unit,
        person=summary.person,
        agreements=summary.agreements[:shown_limit],
        agreement_count=len(summary.agreements),
        counts=summary.counts,
        open=summary.open[:shown_limit],
        overdue=summary.overdue[:shown_limit],
        shown_limit=shown_limit,
        elsewhere=(
            "completed and cancelled follow-ups, and open ones past the limit, are counted"
            " in `counts` and listed by the follow-ups work list (/follow-ups?owner=...);"
            " agreements past the limit are counted in `agreement_count` and listed by"
            " /partnerships?owner=..."
        ),
        today=summary.today,
    )


def _person(person: Person | None) -> Person | None:
    """The catalogue's own `Person` (a replayed view may hold a trusted copy of it, which
    encodes the same but is another class)."""
    if person is None or type(person) is Person:
        return person
    return Person(
        name=person.name,
        title=person.title,
        organisation=person.organisation,
        name_latin=person.name_latin,
    )
