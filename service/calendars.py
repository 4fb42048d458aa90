"""An owner's follow-ups as an iCalendar feed (RFC 5545), built with `icalendar`.

Each follow-up is a `VTODO`: its `UID` is made of the agreement and follow-up ids, so a
calendar program that polls the feed updates the same task instead of adding another;
`DUE` is an all-day date (a due date has no time of day, so no time zone can move it to
another day); `SEQUENCE` is the partnership's log position when the follow-up last changed,
which grows with every change (a reschedule, a completion) as RFC 5545 asks; `STATUS` is
NEEDS-ACTION, COMPLETED or CANCELLED.

Agreements' expiry dates (issue 12's `expires_on`) become all-day `VEVENT`s through
`expiry_event`, once the partnership view knows them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import icalendar

from projections.follow_ups import FollowUpItem

PRODID = "-//agreements//follow-ups//EN"
_STATUS = {"open": "NEEDS-ACTION", "completed": "COMPLETED", "cancelled": "CANCELLED"}


def feed(owner_id: str, items: Iterable[FollowUpItem], stamp: dt.datetime) -> bytes:
    """The calendar of `owner_id`'s follow-ups. `stamp` (UTC) is the DTSTAMP of every
    component: the time the answer was made, per RFC 5545."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"Follow-ups: {owner_id}")
    for item in items:
        calendar.add_component(_todo(item, stamp))
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
    """An all-day event on the day an agreement expires (for issue 12's `expires_on`)."""
    event = icalendar.Event()
    event.add("uid", f"{agreement_id}.expiry@agreements")
    event.add("dtstamp", stamp)
    event.add("sequence", sequence)
    event.add("summary", f"Expires: {title}")
    event.add("dtstart", expires_on)
    event.add("dtend", expires_on + dt.timedelta(days=1))
    event.add("transp", "TRANSPARENT")
    return event
