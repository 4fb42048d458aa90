"""The partnerships read model in SQL: one JSON document per agreement, plus a sector index.

The document is the msgspec encoding of `Partnership`, so a read returns stored bytes as is
and a rebuild writes the very same bytes. `status`, `owner_id` and the sectors table exist
only to filter lists without decoding every document.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
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
    delete,
    insert,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from projections._sql import chunks, execute_many, upsert
from projections.partnership_view import Partnership

NAME = "partnerships"
SCHEMA_VERSION = 1

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Partnership)


@dataclass(frozen=True)
class PartnershipTables:
    docs: Table
    sectors: Table


def define_tables(metadata: MetaData, suffix: str = "", tag: str = "") -> PartnershipTables:
    """The tables, named `<name><suffix>`; `tag` makes constraint and index names unique so a
    rebuilt table can be renamed over the live one (index names outlive a table rename)."""
    docs = Table(
        f"partnerships{suffix}",
        metadata,
        Column("agreement_id", Text, nullable=False),
        Column("doc", LargeBinary, nullable=False),
        Column("status", String(16), nullable=False),
        Column("owner_id", Text, nullable=True),
        Column("signed_on", String(10), nullable=False),
        Column("position", BigInteger, nullable=False),
        PrimaryKeyConstraint("agreement_id", name=f"pk_partnerships{tag}"),
    )
    Index(f"ix_partnerships_status{tag}", docs.c.status)
    Index(f"ix_partnerships_owner{tag}", docs.c.owner_id)
    sectors = Table(
        f"partnership_sectors{suffix}",
        metadata,
        Column("sector", Text, nullable=False),
        Column("agreement_id", Text, nullable=False),
        PrimaryKeyConstraint("sector", "agreement_id", name=f"pk_partnership_sectors{tag}"),
    )
    Index(f"ix_partnership_sectors_agreement{tag}", sectors.c.agreement_id)
    return PartnershipTables(docs=docs, sectors=sectors)


def encode(view: Partnership) -> bytes:
    return _ENCODER.encode(view)


def decode(doc: bytes) -> Partnership:
    return _DECODER.decode(doc)


def sector_key(sector: str) -> str:
    """Sector filters ignore case: "Semiconductors" finds "semiconductors"."""
    return sector.strip().casefold()


async def load(
    connection: AsyncConnection, tables: PartnershipTables, ids: Collection[str]
) -> dict[str, Partnership]:
    found: dict[str, Partnership] = {}
    docs = tables.docs
    for chunk in chunks(sorted(ids)):
        query = select(docs.c.agreement_id, docs.c.doc).where(docs.c.agreement_id.in_(chunk))
        for agreement_id, doc in await connection.execute(query):
            found[agreement_id] = decode(doc)
    return found


async def save(
    connection: AsyncConnection,
    tables: PartnershipTables,
    changed: Mapping[str, Partnership],
    stored: Mapping[str, Partnership],
) -> None:
    """Write the changed documents; `stored` holds their previous versions, where any."""
    dialect = connection.dialect.name
    await execute_many(
        connection,
        upsert(dialect, tables.docs, ["agreement_id"]),
        [_doc_row(view) for view in changed.values()],
    )
    resectored = [
        view
        for agreement_id, view in changed.items()
        if agreement_id not in stored or stored[agreement_id].sectors != view.sectors
    ]
    stale = [view.agreement_id for view in resectored if view.agreement_id in stored]
    for chunk in chunks(stale):
        await connection.execute(
            delete(tables.sectors).where(tables.sectors.c.agreement_id.in_(chunk))
        )
    await execute_many(
        connection,
        insert(tables.sectors),
        [
            {"sector": sector, "agreement_id": view.agreement_id}
            for view in resectored
            for sector in sorted({sector_key(s) for s in view.sectors})
        ],
    )


def _doc_row(view: Partnership) -> dict[str, Any]:
    return {
        "agreement_id": view.agreement_id,
        "doc": encode(view),
        "status": view.status,
        "owner_id": None if view.owner is None else view.owner.owner_id,
        "signed_on": view.signed_on.isoformat(),
        "position": view.position,
    }


def filter_condition(
    tables: PartnershipTables,
    *,
    status: str | None = None,
    owner: str | None = None,
    sector: str | None = None,
) -> Any:
    """The SQL condition on `tables.docs` for the list filters (all optional, combined)."""
    docs = tables.docs
    conditions: list[Any] = []
    if status is not None:
        conditions.append(docs.c.status == status)
    if owner is not None:
        conditions.append(docs.c.owner_id == owner)
    if sector is not None:
        sectors = tables.sectors
        conditions.append(
            docs.c.agreement_id.in_(
                select(sectors.c.agreement_id).where(sectors.c.sector == sector_key(sector))
            )
        )
    return and_(true(), *conditions)


def matches(
    view: Partnership,
    *,
    status: str | None = None,
    owner: str | None = None,
    sector: str | None = None,
) -> bool:
    """The same filters as `filter_condition`, on a document in memory."""
    if status is not None and view.status != status:
        return False
    if owner is not None and (view.owner is None or view.owner.owner_id != owner):
        return False
    return sector is None or sector_key(sector) in {sector_key(s) for s in view.sectors}
