"""A read model added by one module and one registry entry goes through live apply, rebuild
and as-of replay without any change to the pipeline, and all three agree."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import Any

import msgspec
import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from events.store import EventStore, open_store
from projections import Projections
from projections._sql import chunks, driver_statement, execute_rows, upsert
from projections.as_of import Cut, picture_at, view_at
from projections.read_model import ReadModel
from projections.schema import LIVE, SCHEMA_VERSIONS, registered
from service.demo import SEED
from tests._event_strategies import ACTOR


class Tally(msgspec.Struct, kw_only=True):
    """What a test-only read model keeps per agreement: the types of its events, in order."""

    stream_id: str
    types: list[str] = []
    version: int
    position: int


_DECODER = msgspec.json.Decoder(Tally)
NAME = "test_tallies"


def _apply(
    view: Tally | None, data: Any, stream_id: str, version: int, position: int, _at: str
) -> Tally | None:
    if view is None:
        view = Tally(stream_id=stream_id, version=version, position=position)
    view.types.append(type(data).__name__)
    view.version, view.position = version, position
    return view


def _define_tables(metadata: MetaData, suffix: str, tag: str) -> Table:
    return Table(
        f"{NAME}{suffix}",
        metadata,
        Column("stream_id", Text, nullable=False),
        Column("doc", LargeBinary, nullable=False),
        Column("position", BigInteger, nullable=False),
        PrimaryKeyConstraint("stream_id", name=f"pk_{NAME}{tag}"),
    )


async def _load(
    connection: AsyncConnection, table: Table, ids: Collection[str]
) -> dict[str, Tally]:
    found: dict[str, Tally] = {}
    for chunk in chunks(sorted(ids)):
        query = select(table.c.stream_id, table.c.doc).where(table.c.stream_id.in_(chunk))
        for key, doc in await connection.execute(query):
            found[key] = _DECODER.decode(doc)
    return found


def _rows(
    views: Mapping[str, Tally], encoded: Mapping[str, bytes], _new: Any, _refolded: Any
) -> list[tuple[Any, ...]]:
    return [(key, encoded[key], view.position) for key, view in views.items()]


def _save(connection: Connection, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
    dialect = connection.dialect.name
    statement = driver_statement(
        connection, "upsert", table, lambda: upsert(dialect, table, ["stream_id"])
    )
    execute_rows(connection, statement, rows)


TALLIES: ReadModel[Tally] = ReadModel(
    name=NAME,
    version=1,
    categories=("agreement",),
    apply=_apply,
    define_tables=_define_tables,
    load=_load,
    encode=msgspec.json.encode,
    decode=_DECODER.decode,
    rows=_rows,
    save=_save,
)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    with registered(TALLIES):
        store = await open_store(database_url)
        try:
            yield store
        finally:
            await store.close()


async def _stored(store: EventStore) -> dict[str, bytes]:
    table = LIVE.of[NAME]
    async with store.engine.connect() as connection:
        return dict((await connection.execute(select(table.c.stream_id, table.c.doc))).all())


async def test_a_registered_read_model_is_folded_live_rebuilt_and_replayed_alike(
    store: EventStore,
) -> None:
    assert SCHEMA_VERSIONS[NAME] == 1
    projections = Projections(store)
    await projections.start()  # creates its table and checkpoint like every other's
    try:
        for stream_id, history in SEED:
            await store.append(stream_id, history, metadata=ACTOR)
        await projections.runner.catch_up()
        live = await _stored(store)
        agreements = {stream for stream, _ in SEED if stream.startswith("agreement-")}
        assert set(live) == agreements
        for stream_id, history in SEED:
            if stream_id in live:
                tally = _DECODER.decode(live[stream_id])
                assert tally.types == [event.type for event in history]

        picture = await picture_at(store, Cut())
        assert {key: msgspec.json.encode(v) for key, v in picture.views[NAME].items()} == live
        for key, doc in live.items():
            assert msgspec.json.encode(await view_at(store, TALLIES, key, Cut())) == doc

        await projections.rebuild()
        assert await _stored(store) == live

        first = min(live)
        signed_at = (await store.read_stream(first))[0].position
        past = await view_at(store, TALLIES, first, Cut(position=signed_at))
        assert past is not None and past.types == ["AgreementSigned"]
    finally:
        await projections.stop()
