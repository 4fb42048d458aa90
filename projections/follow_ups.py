"""The follow-ups work list: every follow-up of every agreement, by due date.

People who follow agreements up ask "what is due, and whose is it" across all agreements;
the owners read model answers per owner, this one across them, in one index order
(due date, agreement, follow-up), filtered by state, owner, agreement and due date in SQL.

A follow-up's row is a pure function of its partnership document (`items`), so the fold of
follow-up events lives in one place, `projections.partnership_view`: an event type that
changes a follow-up (rescheduled, reassigned, reopened, ...) reaches this list once that
fold knows it, with nothing to add here. Rows are replaced wholesale for every partnership
a batch changed, as the owners read model does. Overdue and "due within N days" depend on
the day the question is asked, so they are judged when read, never stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    or_,
    true,
)
from sqlalchemy.engine import Connection

from projections._sql import replace_agreement_rows
from projections.partnership_view import FollowUpState, OwnerRef, Partnership
from projections.read_model import DerivedModel

NAME = "follow_ups"
SCHEMA_VERSION = 1

Key = tuple[str, str, str]
"""The list's order: (due date as ISO text, agreement id, follow-up id)."""


class FollowUpItem(msgspec.Struct, frozen=True, kw_only=True):
    """One follow-up as the work list shows it (stored as the row's document)."""

    follow_up_id: str
    title: str
    agreement_id: str
    agreement_title: str
    owner: OwnerRef
    due_on: dt.date
    state: FollowUpState
    closed_on: dt.date | None = None
    """The day it was completed or cancelled."""
    outcome: str | None = None
    reason: str | None = None
    """Why it was cancelled."""
    position: int
    """The partnership's position when this was last folded: it grows whenever the
    follow-up changes (a calendar's SEQUENCE)."""


class ListedFollowUp(FollowUpItem, frozen=True, kw_only=True):
    overdue: bool
    """Open and due before the day the list was asked for."""


class Filters(msgspec.Struct, frozen=True, kw_only=True):
    """What chooses the items of the list; `today` anchors the date filters."""

    today: dt.date
    state: FollowUpState | None = None
    owner: str | None = None
    agreement: str | None = None
    overdue: bool | None = None
    due_within_days: int | None = None


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(FollowUpItem)


def define_tables(metadata: MetaData, suffix: str = "", tag: str = "") -> Table:
    items = Table(
        f"follow_up_items{suffix}",
        metadata,
        Column("agreement_id", Text, nullable=False),
        Column("follow_up_id", Text, nullable=False),
        Column("owner_id", Text, nullable=False),
        Column("state", String(16), nullable=False),
        Column("due_on", String(10), nullable=False),
        Column("position", BigInteger, nullable=False),
        Column("doc", LargeBinary, nullable=False),
        PrimaryKeyConstraint("agreement_id", "follow_up_id", name=f"pk_follow_up_items{tag}"),
    )
    order = (items.c.due_on, items.c.agreement_id, items.c.follow_up_id)
    Index(f"ix_follow_up_items_due{tag}", *order)
    Index(f"ix_follow_up_items_state{tag}", items.c.state, *order)
    Index(f"ix_follow_up_items_owner{tag}", items.c.owner_id, *order)
    return items


def items(partnership: Partnership) -> list[FollowUpItem]:
    """The work-list items one partnership contributes: one per follow-up."""
    return [
        FollowUpItem(
            follow_up_id=f.follow_up_id,
            title=f.title,
            agreement_id=partnership.agreement_id,
            agreement_title=partnership.title,
            owner=OwnerRef(owner_id=f.owner.owner_id, unit=f.owner.unit, person=f.owner.person),
            due_on=f.due_on,
            state=f.state,
            closed_on=f.completed_on if f.state == "completed" else f.cancelled_on,
            outcome=f.outcome,
            reason=f.reason,
            position=partnership.position,
        )
        for f in partnership.follow_ups
    ]


def item_rows(partnerships: Iterable[Partnership]) -> list[tuple[Any, ...]]:
    """The rows these partnerships contribute, in the table's column order."""
    return [
        (
            item.agreement_id,
            item.follow_up_id,
            item.owner.owner_id,
            item.state,
            item.due_on.isoformat(),
            item.position,
            _ENCODER.encode(item),
        )
        for partnership in partnerships
        for item in items(partnership)
    ]


replace_rows = replace_agreement_rows
"""Rewrite the follow-ups of the agreements in `stale` with `rows` (`item_rows`)."""


def key_of(item: FollowUpItem) -> Key:
    return (item.due_on.isoformat(), item.agreement_id, item.follow_up_id)


def encode_key(key: Key) -> str:
    """A key as the `last` of a cursor."""
    return _ENCODER.encode(list(key)).decode()


def decode_key(text: str) -> Key:
    due_on, agreement_id, follow_up_id = msgspec.json.decode(text, type=tuple[str, str, str])
    return (due_on, agreement_id, follow_up_id)


def decode(doc: bytes) -> FollowUpItem:
    return _DECODER.decode(doc)


def listed(item: FollowUpItem, today: dt.date) -> ListedFollowUp:
    return ListedFollowUp(
        **msgspec.structs.asdict(item),
        overdue=item.state == "open" and item.due_on < today,
    )


def condition(table: Table, filters: Filters) -> Any:
    """The filters in SQL on `table` (see `matches`, the same on an item)."""
    c = table.c
    today = filters.today.isoformat()
    parts: list[Any] = []
    if filters.state is not None:
        parts.append(c.state == filters.state)
    if filters.owner is not None:
        parts.append(c.owner_id == filters.owner)
    if filters.agreement is not None:
        parts.append(c.agreement_id == filters.agreement)
    if filters.overdue is True:
        parts.append(and_(c.state == "open", c.due_on < today))
    elif filters.overdue is False:
        parts.append(or_(c.state != "open", c.due_on >= today))
    if filters.due_within_days is not None:
        until = (filters.today + dt.timedelta(days=filters.due_within_days)).isoformat()
        parts.append(and_(c.state == "open", c.due_on >= today, c.due_on <= until))
    return and_(true(), *parts)


def after(table: Table, key: Key) -> Any:
    """Rows after `key` in the list's order. The leading `due_on >=` is implied by the rest,
    and is what the databases start the index range at: with the OR alone, SQLite and
    PostgreSQL scan the index from the list's start to the page, so a later page costs more
    the further in it is (figures: README, "Performance")."""
    c = table.c
    due_on, agreement_id, follow_up_id = key
    return and_(
        c.due_on >= due_on,
        or_(
            c.due_on > due_on,
            and_(c.due_on == due_on, c.agreement_id > agreement_id),
            and_(c.due_on == due_on, c.agreement_id == agreement_id, c.follow_up_id > follow_up_id),
        ),
    )


def matches(item: FollowUpItem, filters: Filters) -> bool:
    today = filters.today
    is_open = item.state == "open"
    if filters.state is not None and item.state != filters.state:
        return False
    if filters.owner is not None and item.owner.owner_id != filters.owner:
        return False
    if filters.agreement is not None and item.agreement_id != filters.agreement:
        return False
    if filters.overdue is not None and (is_open and item.due_on < today) != filters.overdue:
        return False
    if filters.due_within_days is not None:
        until = today + dt.timedelta(days=filters.due_within_days)
        return is_open and today <= item.due_on <= until
    return True


def _save(
    connection: Connection,
    table: Table,
    stale: Sequence[tuple[Any, ...]],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    replace_rows(connection, table, stale, rows)


MODEL: DerivedModel[Partnership] = DerivedModel(
    name=NAME,
    version=SCHEMA_VERSION,
    source="partnerships",
    define_tables=define_tables,
    rows=item_rows,
    save=_save,
)
