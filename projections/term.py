"""An agreement's standing on a given day: the part of its status that changes with the date.

Events record the term (effective and expiry dates, how it renews) and what ends it
(termination); whether it is `expired` today, and when it next expires, depend on which day
it is, so they are judged when read, never stored: a document stored last year must not
say `active` today for an agreement that lapsed in between. "Today" is the agency's date
(`Settings.current_date`), so live reads, rebuilds and as-of reads of the same events agree.

An automatic renewal rolls the expiry forward by its term, as many times as the day needs;
a decided renewal is an AgreementRenewed (it moves the recorded expiry). Expiry is not
termination: an expired agreement may still be renewed.
"""

from __future__ import annotations

import calendar
import datetime as dt

from msgspec.structs import replace

from projections.partnership_view import Partnership, Status


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` plus whole months, clamped to the month's end (31 January + 1 month: 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def next_expiry(view: Partnership, today: dt.date) -> dt.date | None:
    """The expiry that applies on `today`: the recorded one, rolled forward by whole terms
    for an automatic renewal until it is not before `today` (the expiry day is still in
    force). Counted from the recorded expiry each time, so month ends do not drift."""
    expires_on = view.expires_on
    if expires_on is None or expires_on >= today:
        return expires_on
    term = view.renewal_term_months
    if view.renewal != "automatic" or term is None:
        return expires_on
    months = (today.year - expires_on.year) * 12 + (today.month - expires_on.month)
    terms = max(months // term - 1, 1)
    while add_months(expires_on, terms * term) < today:
        terms += 1
    return add_months(expires_on, terms * term)


def status_on(view: Partnership, today: dt.date) -> Status:
    """`terminated` whatever the date; `expired` past an expiry nothing renewed; else as stored."""
    if view.status == "terminated":
        return "terminated"
    expires = next_expiry(view, today)
    if view.status == "active" and expires is not None and expires < today:
        return "expired"
    return view.status


def as_of_day(view: Partnership, today: dt.date) -> Partnership:
    """The document as shown on `today`: its status and next expiry judged on that day."""
    status, expires = status_on(view, today), next_expiry(view, today)
    if status == view.status and expires == view.next_expires_on:
        return view
    return replace(view, status=status, next_expires_on=expires)


def may_change_with_the_day(doc: bytes) -> bool:
    """Whether a stored document (JSON) has an expiry, so that its status may change with
    the day: the others are served as stored. (A string value cannot hold `"expires_on":"`
    unescaped, so only the field itself matches.)"""
    return b'"expires_on":"' in doc
