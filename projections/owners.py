"""The follow-up owners read model in SQL: the owner rows each partnership contributes.

Rows are a pure function of a partnership document (`owner_view.owner_rows`), so they are
replaced wholesale for every partnership a batch changed; summaries (and overdue counts,
which depend on today's date) are computed when read. A follow-up's state and due date, and
the partnership's position, are columns too, so that a page of owners is counted in SQL
(`tally_query`) instead of decoding every row of every owner on it.
"""

from __future__ import annotations

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
    func,
    select,
)
from sqlalchemy.engine import Connection

from projections._sql import replace_agreement_rows
from projections.owner_view import OwnerRow, owner_rows
from projections.partnership_view import Partnership
from projections.read_model import DerivedModel

NAME = "owners"
SCHEMA_VERSION = 5
"""2: state, due date and position as columns (owner pages are counted in SQL). 3: owner ids
distinct for names in any script (`name_id`). 4: the state index ends with agreement and
item, so an owner's document reads its first agreements and open follow-ups in index order
instead of sorting all of them. 5: opaque owner ids (`events.catalogue.owner_id`: the
person's id, not a slug of their name), unchanged by an erasure."""

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(OwnerRow)


def define_tables(metadata: MetaData, suffix: str = "", tag: str = "") -> Table:
    items = Table(
        f"owner_items{suffix}",
        metadata,
        Column("agreement_id", Text, nullable=False),
        Column("item", Text, nullable=False),
        Column("owner_id", Text, nullable=False),
        Column("doc", LargeBinary, nullable=False),
        # The follow-up's state; null on the row naming the agreement's owner.
        Column("state", String(16), nullable=True),
        Column("due_on", String(10), nullable=True),
        # The partnership's position: the latest row gives the owner's unit and person.
        Column("position", BigInteger, nullable=False),
        PrimaryKeyConstraint("agreement_id", "item", name=f"pk_owner_items{tag}"),
    )
    Index(f"ix_owner_items_owner{tag}", items.c.owner_id, items.c.position)
    Index(
        f"ix_owner_items_state{tag}",
        items.c.owner_id,
        items.c.state,
        items.c.due_on,
        items.c.agreement_id,
        items.c.item,
    )
    return items


def item_rows(partnerships: Iterable[Partnership]) -> list[tuple[Any, ...]]:
    """The rows these partnerships contribute, in the table's column order."""
    return [
        (
            row.agreement_id,
            row.item,
            row.owner_id,
            _ENCODER.encode(row),
            None if row.follow_up is None else row.follow_up.state,
            None if row.follow_up is None else row.follow_up.due_on.isoformat(),
            row.position,
        )
        for partnership in partnerships
        for row in owner_rows(partnership)
    ]


replace_rows = replace_agreement_rows
"""How this model rewrites the rows of the agreements it folded (`stale`), then inserts `rows`."""


def rows_query(items: Table, owner_id: str | None = None) -> Any:
    query = select(items.c.doc).order_by(items.c.owner_id, items.c.agreement_id, items.c.item)
    if owner_id is not None:
        query = query.where(items.c.owner_id == owner_id)
    return query


def decode_rows(docs: Iterable[bytes]) -> list[OwnerRow]:
    return [_DECODER.decode(doc) for doc in docs]


def tally_query(items: Table, owner_ids: Any, today: str, excluding: Sequence[str] = ()) -> Any:
    """Per owner in `owner_ids` (a select of distinct owner ids), by owner id: agreement
    count, follow-up counts by state (overdue: open and due before `today`), the earliest
    open due date, and the doc of the owner's latest row (for its unit and person). Each
    figure is a range of the (owner, state, due date) index, so no row is read but one.
    The rows of the agreements `excluding` are left out of every figure."""
    chosen = owner_ids.subquery()
    owner = chosen.c.owner_id

    def kept(t: Any) -> Any:
        return t.c.agreement_id.not_in(excluding) if excluding else None

    def of_owner(column: Any, *conditions: Any) -> Any:
        inner = items.alias()
        condition = inner.c.owner_id == owner
        if excluding:
            condition = condition & kept(inner)
        for make in conditions:
            condition = condition & make(inner)
        return select(column(inner)).where(condition).scalar_subquery()

    def count(*conditions: Any) -> Any:
        return of_owner(lambda _: func.count(), *conditions)

    def is_open(t: Any) -> Any:
        return t.c.state == "open"

    latest = items.alias()
    latest_doc = (
        select(latest.c.doc)
        .where(latest.c.owner_id == owner, *([kept(latest)] if excluding else []))
        .order_by(latest.c.position.desc(), latest.c.agreement_id.desc(), latest.c.item.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(
        owner,
        count(lambda t: t.c.state.is_(None)).label("agreements"),
        count(is_open).label("open"),
        count(is_open, lambda t: t.c.due_on < today).label("overdue"),
        count(lambda t: t.c.state == "completed").label("completed"),
        count(lambda t: t.c.state == "cancelled").label("cancelled"),
        of_owner(lambda t: func.min(t.c.due_on), is_open).label("next_due_on"),
        latest_doc.label("latest"),
    )


def decode_row(doc: bytes) -> OwnerRow:
    return _DECODER.decode(doc)


def _save(
    connection: Connection,
    table: Table,
    stale: Sequence[tuple[Any, ...]],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """`replace_rows`, looked up when a batch saves (so a test can make it fail midway)."""
    replace_rows(connection, table, stale, rows)


MODEL: DerivedModel[Partnership] = DerivedModel(
    name=NAME,
    version=SCHEMA_VERSION,
    source="partnerships",
    define_tables=define_tables,
    rows=item_rows,
    save=_save,
)
