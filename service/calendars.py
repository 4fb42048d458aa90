"""An owner's follow-ups as an iCalendar feed (RFC 5545), built with `icalendar`.

Each follow-up is a `VTODO`: its `UID` is made of the agreement and follow-up ids, so a
calendar program that polls the feed updates the same task instead of adding another;
`DUE` is an all-day date (a due date has no time of day, so no time zone can move it to
another day); `SEQUENCE` is the partnership's log position when the follow-up last changed,
which grows with every change (a reschedule, a completion) as RFC 5545 asks; `STATUS` is
NEEDS-ACTION, COMPLETED or CANCELLED.

Each agreement the owner is responsible for that has an expiry is an all-day `VEVENT` on
the day it next expires (`projections.term.next_expiry`: an automatic renewal rolls it
forward). Its `UID` is the agreement's, so a renewal moves the same event; its `SEQUENCE` is
the number of days from the signing to that expiry, which grows whenever the expiry moves,
since a renewal may only move it later (rule `renewal_expiry_not_later`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import icalendar
import msgspec

from projections.follow_ups import FollowUpItem
from projections.partnership_view import Partnership
from projections.term import next_expiry

PRODID = "-//agreements//follow-ups//EN"
_STATUS = {"open": "NEEDS-ACTION", "completed": "COMPLETED", "cancelled": "CANCELLED"}


class Expiry(msgspec.Struct, frozen=True, kw_only=True):
    """The day an agreement next expires, as its calendar event shows it."""

    agreement_id: str
    title: str
    expires_on: dt.date
    sequence: int


def expiry_of(view: Partnership, today: dt.date) -> Expiry | None:
    """The agreement's next expiry on `today`; None without one, or once terminated."""
    expires_on = next_expiry(view, today)
    if expires_on is None or view.signed_on is None or view.status == "terminated":
        return None
    days = (expires_on - view.signed_on).days
    return Expiry(
        agreement_id=view.agreement_id, title=view.title, expires_on=expires_on, sequence=days
    )


def feed(
    owner_id: str,
    items: Iterable[FollowUpItem],
    stamp: dt.datetime,
    expiries: Iterable[Expiry] = (),
) -> bytes:
    """The calendar of `owner_id`'s follow-ups and agreements' expiries. `stamp` (UTC) is the
    DTSTAMP of every component: the time the answer was made, per RFC 5545."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"Follow-ups: {owner_id}")
    for item in items:
        calendar.add_component(_todo(item, stamp))
    for expiry in expiries:
        calendar.add_component(
            expiry_event(
                expiry.agreement_id, expiry.title, expiry.expires_on, expiry.sequence, stamp
            )
        )
    ical: bytes = calendar.to_ical()
    return ical


def _todo(item: FollowUpItem, stamp: dt.datetime) -> icalendar.Todo:
    todo = icalendar.Todo()
    todo.add("uid", f"{item.agreement_id}.{item.follow_up_id}@agreements")
    todo.add("dtstamp", stamp)
    todo.add("sequence", item.position)
    todo.add("summary", item.title)
    todo.add("description", f"{item.agreement_title} ({item.agreement_id})")
    todo.add("due", item.due_on)
    todo.add("status", _STATUS[item.state])
    if item.state == "completed" and item.closed_on is not None:
        completed = dt.datetime.combine(item.closed_on, dt.time(), tzinfo=dt.UTC)
        todo.add("completed", completed)
    return todo


def expiry_event(
    agreement_id: str, title: str, expires_on: dt.date, sequence: int, stamp: dt.datetime
) -> icalendar.Event:
    """An all-day event on the day an agreement expires."""
    event = icalendar.Event()
    event.add("uid", f"{agreement_id}.expiry@agreements")
    event.add("dtstamp", stamp)
    event.add("sequence", sequence)
    event.add("summary", f"Expires: {title}")
    event.add("dtstart", expires_on)
    event.add("dtend", expires_on + dt.timedelta(days=1))
    event.add("transp", "TRANSPARENT")
    return event
