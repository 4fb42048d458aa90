"""The follow-up owners read model in SQL: the owner rows each partnership contributes.

Rows are a pure function of a partnership document (`owner_view.owner_rows`), so they are
replaced wholesale for every partnership a batch changed; summaries (and overdue counts,
which depend on today's date) are computed when read. A follow-up's state and due date, and
the partnership's position, are columns too, so that a page of owners is counted in SQL
(`tally_query`) instead of decoding every row of every owner on it.

An owner's counts (agreements, and follow-ups open, completed and cancelled) are kept in a
second table, `owner_counts`, moved by each batch in the transaction that replaces its rows:
an owner of a long register has thousands of completed follow-ups (8,000 each at 1,000,000
events in the scale benchmark), and counting them in the index on every read of the owner
grew with the log. Overdue depends on the day, so it is still counted when read, among the
owner's open follow-ups only.
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
    delete,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from projections._sql import chunks, replace_agreement_rows
from projections.owner_view import OwnerRow, owner_rows
from projections.partnership_view import Partnership
from projections.read_model import DerivedModel

NAME = "owners"
SCHEMA_VERSION = 6
"""2: state, due date and position as columns (owner pages are counted in SQL). 3: owner ids
distinct for names in any script (`name_id`). 4: the state index ends with agreement and
item, so an owner's document reads its first agreements and open follow-ups in index order
instead of sorting all of them. 5: opaque owner ids (`events.catalogue.owner_id`: the
person's id, not a slug of their name), unchanged by an erasure. 6: each owner's counts kept
in `owner_counts`."""

COUNTS = ("agreements", "open_count", "completed_count", "cancelled_count")
"""The counts `owner_counts` keeps for an owner, each of its rows of one kind (`_kind`)."""

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
    Table(
        f"owner_counts{suffix}",
        metadata,
        Column("owner_id", Text, nullable=False),
        *(Column(name, BigInteger, nullable=False) for name in COUNTS),
        # Every row of the owner: at 0 the owner has none left and its counts go.
        Column("row_count", BigInteger, nullable=False),
        PrimaryKeyConstraint("owner_id", name=f"pk_owner_counts{tag}"),
    )
    return items


def counts_table(items: Table) -> Table:
    """The `owner_counts` table defined beside `items` (the live one, or a rebuild's)."""
    return items.metadata.tables[items.name.replace("owner_items", "owner_counts", 1)]


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
    open due date, and the doc of the owner's latest row (for its unit and person). The
    counts are the owner's `owner_counts` row; overdue and the earliest due date are a range
    of the (owner, state, due date) index among its open follow-ups, so no row is read but
    one. The rows of the agreements `excluding` are left out of every figure (counted in the
    index then, as the kept counts include them)."""
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
    overdue = count(is_open, lambda t: t.c.due_on < today).label("overdue")
    next_due_on = of_owner(lambda t: func.min(t.c.due_on), is_open).label("next_due_on")
    if not excluding:
        kept_counts = counts_table(items)
        c = kept_counts.c
        return select(
            owner,
            c.agreements,
            c.open_count,
            overdue,
            c.completed_count,
            c.cancelled_count,
            next_due_on,
            latest_doc.label("latest"),
        ).select_from(chosen.join(kept_counts, c.owner_id == owner))
    return select(
        owner,
        count(lambda t: t.c.state.is_(None)).label("agreements"),
        count(is_open).label("open"),
        overdue,
        count(lambda t: t.c.state == "completed").label("completed"),
        count(lambda t: t.c.state == "cancelled").label("cancelled"),
        next_due_on,
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
    """`replace_rows`, looked up when a batch saves (so a test can make it fail midway), and
    the owners' counts moved by what it removed and added."""
    change = _removed(connection, table, stale)
    for row in rows:
        _add(change, row[2], _kind(row[4]), 1)
    replace_rows(connection, table, stale, rows)
    _move_counts(connection, counts_table(table), change)


Change = dict[str, list[int]]
"""Per owner id, how much each of `COUNTS` and the row count moves."""


def _kind(state: str | None) -> int:
    """The index in `COUNTS` of a row with this follow-up state (None: the agreement's)."""
    return 0 if state is None else COUNTS.index(f"{state}_count")


def _add(change: Change, owner_id: str, kind: int, by: int) -> None:
    moved = change.setdefault(owner_id, [0] * (len(COUNTS) + 1))
    moved[kind] += by
    moved[-1] += by


def _removed(connection: Connection, table: Table, stale: Sequence[tuple[Any, ...]]) -> Change:
    """The counts of the stored rows of the agreements in `stale`, by owner, negated (they
    are about to be removed)."""
    change: Change = {}
    ids = [key[0] for key in stale]
    for chunk in chunks(ids):
        query = (
            select(table.c.owner_id, table.c.state, func.count())
            .where(table.c.agreement_id.in_(chunk))
            .group_by(table.c.owner_id, table.c.state)
        )
        for owner_id, state, number in connection.execute(query):
            _add(change, owner_id, _kind(state), -int(number))
    return change


def _move_counts(connection: Connection, counts: Table, change: Change) -> None:
    """Add `change` to the kept counts; an owner left without rows loses its counts row."""
    moved = [
        {"owner_id": owner_id, **dict(zip((*COUNTS, "row_count"), by, strict=True))}
        for owner_id, by in sorted(change.items())
        if any(by)
    ]
    if not moved:
        return
    add = sqlite_insert(counts) if connection.dialect.name == "sqlite" else pg_insert(counts)
    connection.execute(
        add.on_conflict_do_update(
            index_elements=["owner_id"],
            set_={name: counts.c[name] + add.excluded[name] for name in (*COUNTS, "row_count")},
        ),
        moved,
    )
    gone = [entry["owner_id"] for entry in moved]
    for chunk in chunks(gone):
        connection.execute(
            delete(counts).where(counts.c.owner_id.in_(chunk), counts.c.row_count <= 0)
        )


MODEL: DerivedModel[Partnership] = DerivedModel(
    name=NAME,
    version=SCHEMA_VERSION,
    source="partnerships",
    define_tables=define_tables,
    rows=item_rows,
    save=_save,
)
