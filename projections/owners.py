"""The follow-up owners read model in SQL: the owner rows each partnership contributes.

Rows are a pure function of a partnership document (`owner_view.owner_rows`), so they are
replaced wholesale for every partnership a batch changed; summaries (and overdue counts,
which depend on today's date) are computed when read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
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
    delete,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from projections._sql import chunks, execute_many
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


async def replace_rows(
    connection: AsyncConnection,
    items: Table,
    partnerships: Iterable[Partnership],
    previously_stored: Collection[str],
) -> None:
    """Replace the rows of these partnerships; `previously_stored` are the agreement ids that
    may already have rows (the others are new, so there is nothing to delete)."""
    changed = list(partnerships)
    stale = [p.agreement_id for p in changed if p.agreement_id in previously_stored]
    for chunk in chunks(stale):
        await connection.execute(delete(items).where(items.c.agreement_id.in_(chunk)))
    await execute_many(
        connection,
        insert(items),
        [
            {
                "agreement_id": row.agreement_id,
                "item": row.item,
                "owner_id": row.owner_id,
                "doc": _ENCODER.encode(row),
            }
            for partnership in changed
            for row in owner_rows(partnership)
        ],
    )


def rows_query(items: Table, owner_id: str | None = None) -> Any:
    query = select(items.c.doc).order_by(items.c.owner_id, items.c.agreement_id, items.c.item)
    if owner_id is not None:
        query = query.where(items.c.owner_id == owner_id)
    return query


def decode_rows(docs: Iterable[bytes]) -> list[OwnerRow]:
    return [_DECODER.decode(doc) for doc in docs]
