"""The follow-up owners read model in SQL: the owner rows each partnership contributes.

Rows are a pure function of a partnership document (`owner_view.owner_rows`), so they are
replaced wholesale for every partnership a batch changed; summaries (and overdue counts,
which depend on today's date) are computed when read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from sqlalchemy import (
    Column,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    bindparam,
    delete,
    insert,
    select,
)
from sqlalchemy.engine import Connection

from projections._sql import driver_statement, execute_rows
from projections.owner_view import OwnerRow, owner_rows
from projections.partnership_view import Partnership

NAME = "owners"
SCHEMA_VERSION = 1

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
        PrimaryKeyConstraint("agreement_id", "item", name=f"pk_owner_items{tag}"),
    )
    Index(f"ix_owner_items_owner{tag}", items.c.owner_id)
    return items


def item_rows(partnerships: Iterable[Partnership]) -> list[tuple[Any, ...]]:
    """The rows these partnerships contribute, in the table's column order."""
    return [
        (row.agreement_id, row.item, row.owner_id, _ENCODER.encode(row))
        for partnership in partnerships
        for row in owner_rows(partnership)
    ]


def replace_rows(
    connection: Connection,
    items: Table,
    stale: Sequence[tuple[Any, ...]],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """Delete the rows of the agreements in `stale` (one-tuples of agreement ids: those that
    may have rows already), then insert `rows` (`item_rows`)."""
    delete_rows = driver_statement(
        connection,
        "delete",
        items,
        lambda: delete(items).where(items.c.agreement_id == bindparam("agreement_id")),
        ["agreement_id"],
    )
    execute_rows(connection, delete_rows, stale)
    insert_rows = driver_statement(connection, "insert", items, lambda: insert(items))
    execute_rows(connection, insert_rows, rows)


def rows_query(items: Table, owner_id: str | None = None) -> Any:
    query = select(items.c.doc).order_by(items.c.owner_id, items.c.agreement_id, items.c.item)
    if owner_id is not None:
        query = query.where(items.c.owner_id == owner_id)
    return query


def decode_rows(docs: Iterable[bytes]) -> list[OwnerRow]:
    return [_DECODER.decode(doc) for doc in docs]
