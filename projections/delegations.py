"""The delegations read model in SQL: one JSON document per delegation."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy import (
    BigInteger,
    Column,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from projections import delegation_view
from projections._sql import chunks, driver_statement, execute_rows, upsert
from projections.delegation_view import Delegation
from projections.read_model import ReadModel

NAME = "delegations"
SCHEMA_VERSION = 2
"""2: notes bounded (the latest shown, all counted)."""

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Delegation)


def define_tables(metadata: MetaData, suffix: str = "", tag: str = "") -> Table:
    return Table(
        f"delegations{suffix}",
        metadata,
        Column("delegation_id", Text, nullable=False),
        Column("doc", LargeBinary, nullable=False),
        Column("starts_on", String(10), nullable=False),
        Column("position", BigInteger, nullable=False),
        PrimaryKeyConstraint("delegation_id", name=f"pk_delegations{tag}"),
    )


def encode(view: Delegation) -> bytes:
    return _ENCODER.encode(view)


def decode(doc: bytes) -> Delegation:
    return _DECODER.decode(doc)


async def load(
    connection: AsyncConnection, docs: Table, ids: Collection[str]
) -> dict[str, Delegation]:
    found: dict[str, Delegation] = {}
    for chunk in chunks(sorted(ids)):
        query = select(docs.c.delegation_id, docs.c.doc).where(docs.c.delegation_id.in_(chunk))
        for delegation_id, doc in await connection.execute(query):
            found[delegation_id] = decode(doc)
    return found


def doc_rows(
    views: Mapping[str, Delegation], encoded: Mapping[str, bytes]
) -> list[tuple[Any, ...]]:
    """Rows of the table (in its column order) for these views and encodings."""
    return [
        (key, encoded[key], view.starts_on.isoformat(), view.position)
        for key, view in views.items()
    ]


def save(connection: Connection, docs: Table, rows: Sequence[tuple[Any, ...]]) -> None:
    """Upsert document rows (`doc_rows`)."""
    dialect = connection.dialect.name
    statement = driver_statement(
        connection, "upsert", docs, lambda: upsert(dialect, docs, ["delegation_id"])
    )
    execute_rows(connection, statement, rows)


def list_query(docs: Table) -> Any:
    return select(docs.c.doc).order_by(docs.c.starts_on, docs.c.delegation_id)


def get_query(docs: Table, delegation_id: str) -> Any:
    return select(docs.c.doc).where(docs.c.delegation_id == delegation_id)


def _rows(
    views: Mapping[str, Delegation],
    encoded: Mapping[str, bytes],
    _new: Collection[str],
    _refolded: Collection[str],
) -> list[tuple[Any, ...]]:
    return doc_rows(views, encoded)


MODEL: ReadModel[Delegation] = ReadModel(
    name=NAME,
    version=SCHEMA_VERSION,
    categories=(delegation_view.CATEGORY,),
    apply=delegation_view.apply,
    define_tables=define_tables,
    load=load,
    encode=encode,
    decode=decode,
    rows=_rows,
    save=save,
)
