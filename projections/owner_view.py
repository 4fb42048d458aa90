"""Follow-up owners, derived from partnerships by pure functions.

An owner is whoever an agreement names as its current follow-up owner, and whoever owns one
of its follow-ups. Each partnership contributes rows (`owner_rows`); an owner's summary is a
pure function of its rows and today's date (`summarize_owner`). Overdue (open, due before
today) depends on the day the question is asked, so it is computed when read, never stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from itertools import groupby

import msgspec

from events.catalogue import Person
from projections.partnership_view import FollowUp, FollowUpState, OwnerRef, Partnership, Status

AGREEMENT_ITEM = ""
"""`item` of the row naming an agreement's current owner; follow-up rows use their id."""


class OwnerRow(msgspec.Struct, frozen=True, kw_only=True):
    """One fact about one owner, contributed by one partnership."""

    owner_id: str
    unit: str
    person: Person | None
    agreement_id: str
    agreement_title: str
    agreement_status: Status
    position: int
    """The partnership's position: the most recent row gives the owner's unit and person."""
    follow_up: FollowUp | None = None
    """None: the row says the owner is responsible for the agreement itself."""

    @property
    def item(self) -> str:
        return AGREEMENT_ITEM if self.follow_up is None else self.follow_up.follow_up_id


class AgreementRef(msgspec.Struct, frozen=True, kw_only=True):
    agreement_id: str
    title: str
    status: Status


class OwnerFollowUp(msgspec.Struct, frozen=True, kw_only=True):
    agreement_id: str
    agreement_title: str
    follow_up_id: str
    title: str
    due_on: dt.date
    state: FollowUpState
    overdue: bool
    completed_on: dt.date | None = None
    outcome: str | None = None
    cancelled_on: dt.date | None = None
    reason: str | None = None


class FollowUpCounts(msgspec.Struct, frozen=True, kw_only=True):
    open: int
    overdue: int
    completed: int
    cancelled: int


class OwnerSummary(msgspec.Struct, frozen=True, kw_only=True):
    owner_id: str
    unit: str
    person: Person | None
    agreements: list[AgreementRef]
    counts: FollowUpCounts
    open: list[OwnerFollowUp]
    overdue: list[OwnerFollowUp]
    """The open follow-ups due before `today` (also listed under `open`)."""
    completed: list[OwnerFollowUp]
    cancelled: list[OwnerFollowUp]
    today: dt.date
    """The date `overdue` was computed for."""


def owner_rows(partnership: Partnership) -> list[OwnerRow]:
    """The rows one partnership contributes: its current owner, then each follow-up's owner."""
    owners: list[tuple[OwnerRef, FollowUp | None]] = [(f.owner, f) for f in partnership.follow_ups]
    if partnership.owner is not None:
        owners.insert(0, (partnership.owner, None))
    return [
        OwnerRow(
            owner_id=owner.owner_id,
            unit=owner.unit,
            person=owner.person,
            agreement_id=partnership.agreement_id,
            agreement_title=partnership.title,
            agreement_status=partnership.status,
            position=partnership.position,
            follow_up=follow_up,
        )
        for owner, follow_up in owners
    ]


def summarize_owner(rows: Sequence[OwnerRow], today: dt.date) -> OwnerSummary:
    """The summary of one owner from all its rows (non-empty, one `owner_id`)."""
    if not rows:
        raise ValueError("an owner summary needs at least one row")
    latest = max(rows, key=lambda row: (row.position, row.agreement_id, row.item))
    agreements = sorted(
        (
            AgreementRef(
                agreement_id=row.agreement_id,
                title=row.agreement_title,
                status=row.agreement_status,
            )
            for row in rows
            if row.follow_up is None
        ),
        key=lambda ref: ref.agreement_id,
    )
    follow_ups = sorted(
        (_owner_follow_up(row, row.follow_up, today) for row in rows if row.follow_up is not None),
        key=lambda f: (f.due_on, f.agreement_id, f.follow_up_id),
    )
    open_ = [f for f in follow_ups if f.state == "open"]
    overdue = [f for f in open_ if f.overdue]
    completed = [f for f in follow_ups if f.state == "completed"]
    cancelled = [f for f in follow_ups if f.state == "cancelled"]
    return OwnerSummary(
        owner_id=latest.owner_id,
        unit=latest.unit,
        person=latest.person,
        agreements=agreements,
        counts=FollowUpCounts(
            open=len(open_),
            overdue=len(overdue),
            completed=len(completed),
            cancelled=len(cancelled),
        ),
        open=open_,
        overdue=overdue,
        completed=completed,
        cancelled=cancelled,
        today=today,
    )


def summarize_owners(rows: Iterable[OwnerRow], today: dt.date) -> list[OwnerSummary]:
    """One summary per owner, ordered by `owner_id`."""
    ordered = sorted(rows, key=lambda row: row.owner_id)
    return [
        summarize_owner(list(group), today)
        for _, group in groupby(ordered, key=lambda row: row.owner_id)
    ]


def is_overdue(follow_up: FollowUp, today: dt.date) -> bool:
    return follow_up.state == "open" and follow_up.due_on < today


def _owner_follow_up(row: OwnerRow, follow_up: FollowUp, today: dt.date) -> OwnerFollowUp:
    return OwnerFollowUp(
        agreement_id=row.agreement_id,
        agreement_title=row.agreement_title,
        follow_up_id=follow_up.follow_up_id,
        title=follow_up.title,
        due_on=follow_up.due_on,
        state=follow_up.state,
        overdue=is_overdue(follow_up, today),
        completed_on=follow_up.completed_on,
        outcome=follow_up.outcome,
        cancelled_on=follow_up.cancelled_on,
        reason=follow_up.reason,
    )
