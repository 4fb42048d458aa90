"""The partnerships read model in SQL: one JSON document per agreement, plus a sector index.

The document is the msgspec encoding of `Partnership`, so a read returns stored bytes as is
and a rebuild writes the very same bytes. `status`, `owner_id`, `lapses_on` and the sectors
table exist only to filter lists without decoding every document.

`expired` is not stored (a document does not change when a day passes): the stored status is
`announced`, `active` or `terminated`, and `lapses_on` (the recorded expiry of an agreement
that does not renew automatically) lets a list judge `expired` and "expiring within N days"
against the day of the read. An automatic renewal never lapses, so it is neither.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
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
    insert,
    not_,
    select,
    true,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from projections import partnership_view
from projections._sql import (
    chunks,
    driver_statement,
    execute_rows,
    replace_agreement_rows,
    upsert,
)
from projections.partnership_view import Partnership, listed_on
from projections.read_model import ReadModel
from projections.term import status_on

NAME = "partnerships"
SCHEMA_VERSION = 6
"""2: notes bounded (the latest shown, all counted). 3: filter indexes end with the id, the
order lists are paged in. 4: owner ids distinct for names in any script (`name_id`); the
term (expiry, renewal) in documents and `lapses_on`. 5: announced agreements (no signing
yet), endorsements without an endorser, the agreement's files (`documents`). 6: a named
owner's id is the unit's slug and the person's id (`owner_id`), opaque and unchanged by an
erasure."""

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
        Column("lapses_on", String(10), nullable=True),
        Column("position", BigInteger, nullable=False),
        PrimaryKeyConstraint("agreement_id", name=f"pk_partnerships{tag}"),
    )
    # A filtered page reads its rows in id order straight from these, without sorting.
    Index(f"ix_partnerships_status{tag}", docs.c.status, docs.c.agreement_id)
    Index(f"ix_partnerships_owner{tag}", docs.c.owner_id, docs.c.agreement_id)
    Index(f"ix_partnerships_lapses{tag}", docs.c.lapses_on, docs.c.agreement_id)
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


def doc_rows(
    views: Mapping[str, Partnership], encoded: Mapping[str, bytes]
) -> list[tuple[Any, ...]]:
    """Rows of the documents table (in its column order) for these views and encodings."""
    return [
        (
            key,
            encoded[key],
            view.status,
            None if view.owner is None else view.owner.owner_id,
            listed_on(view).isoformat(),
            _iso(lapses_on(view)),
            view.position,
        )
        for key, view in views.items()
    ]


def lapses_on(view: Partnership) -> dt.date | None:
    """The day after which the agreement is expired unless renewed: its recorded expiry,
    unless it renews automatically (or is terminated: then expiry no longer matters)."""
    if view.status == "terminated" or view.renewal == "automatic":
        return None
    return view.expires_on


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def sector_rows(new: Iterable[Partnership]) -> list[tuple[Any, ...]]:
    """Rows of the sectors table for documents new to it (or rewritten, see `_rows`): a
    partnership's sectors are fixed at its signing, so only a new document has any to write."""
    return [
        (sector, view.agreement_id)
        for view in new
        for sector in sorted({sector_key(s) for s in view.sectors})
    ]


def save(
    connection: Connection,
    tables: PartnershipTables,
    docs: Sequence[tuple[Any, ...]],
    sectors: Sequence[tuple[Any, ...]],
    stale_sectors: Sequence[tuple[Any, ...]] = (),
) -> None:
    """Upsert document rows (`doc_rows`) and insert sector rows (`sector_rows`), after
    deleting the sector rows of the agreements in `stale_sectors` (one-tuples of ids)."""
    dialect = connection.dialect.name
    upsert_docs = driver_statement(
        connection, "upsert", tables.docs, lambda: upsert(dialect, tables.docs, ["agreement_id"])
    )
    execute_rows(connection, upsert_docs, docs)
    if stale_sectors:
        replace_agreement_rows(connection, tables.sectors, stale_sectors, sectors)
        return
    insert_sectors = driver_statement(
        connection, "insert", tables.sectors, lambda: insert(tables.sectors)
    )
    execute_rows(connection, insert_sectors, sectors)


_Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]


def _rows(
    views: Mapping[str, Partnership],
    encoded: Mapping[str, bytes],
    new: Collection[str],
    refolded: Collection[str],
) -> _Rows:
    """Document rows, and sector rows for new and refolded documents (a correction of the
    signing may change the sectors), with the refolded ones' old sector rows to delete.

    An announced agreement's document exists before its signing, whose sectors replace the
    announcement's: its sector rows are rewritten with every change, as a refolded one's are
    (announcements are few, so this costs little; keeping the announcement's rows would show
    a list filtered by sector something a rebuild does not)."""
    rewritten = {*new, *refolded, *(k for k, v in views.items() if v.announced_on is not None)}
    stale = [(key,) for key in views if key in rewritten and key not in new]
    return doc_rows(views, encoded), sector_rows(views[k] for k in views if k in rewritten), stale


def _save(connection: Connection, tables: PartnershipTables, rows: _Rows) -> None:
    save(connection, tables, *rows)


MODEL: ReadModel[Partnership] = ReadModel(
    name=NAME,
    version=SCHEMA_VERSION,
    categories=(partnership_view.CATEGORY,),
    apply=partnership_view.apply,
    define_tables=define_tables,
    load=load,
    encode=encode,
    decode=decode,
    rows=_rows,
    save=_save,
    documents=lambda tables: tables.docs,
)


@dataclass(frozen=True, slots=True)
class Filters:
    """A partnership list's filters (all optional, combined), and the day they are judged on:
    `expired` and `expiring_within_days` change with the date, not with events."""

    today: dt.date
    status: str | None = None
    owner: str | None = None
    sector: str | None = None
    expiring_within_days: int | None = None

    def key(self) -> tuple[object, ...]:
        """What an answer to these filters depends on (a cache key's part)."""
        return (self.today, self.status, self.owner, self.sector, self.expiring_within_days)


def filter_condition(tables: PartnershipTables, filters: Filters) -> Any:
    """The SQL condition on `tables.docs` for the list filters (all optional, combined)."""
    docs = tables.docs
    conditions: list[Any] = []
    today = filters.today.isoformat()
    status, owner, sector = filters.status, filters.owner, filters.sector
    lapsed = and_(docs.c.lapses_on.is_not(None), docs.c.lapses_on < today)
    if status == "expired":
        conditions += [docs.c.status == "active", lapsed]
    elif status == "active":
        conditions += [docs.c.status == "active", not_(lapsed)]
    elif status is not None:
        conditions.append(docs.c.status == status)
    if filters.expiring_within_days is not None:
        until = (filters.today + dt.timedelta(days=filters.expiring_within_days)).isoformat()
        conditions += [
            docs.c.status == "active",
            docs.c.lapses_on.is_not(None),
            docs.c.lapses_on >= today,
            docs.c.lapses_on <= until,
        ]
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


def matches(view: Partnership, filters: Filters) -> bool:
    """The same filters as `filter_condition`, on a document in memory."""
    status, owner, sector = filters.status, filters.owner, filters.sector
    if status is not None and status_on(view, filters.today) != status:
        return False
    days = filters.expiring_within_days
    if days is not None:
        lapses = lapses_on(view)
        until = filters.today + dt.timedelta(days=days)
        if lapses is None or not filters.today <= lapses <= until:
            return False
    if owner is not None and (view.owner is None or view.owner.owner_id != owner):
        return False
    return sector is None or sector_key(sector) in {sector_key(s) for s in view.sectors}
