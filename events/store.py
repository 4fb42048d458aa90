"""The append-only event store on SQLAlchemy Core, for SQLite and PostgreSQL alike.

Writes go through one group-commit writer (`events._writer`); reads go straight to the
database. Listeners hear the new head after each commit: this instance's own commits at
once, other instances' (PostgreSQL) through LISTEN/NOTIFY.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec
from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from events._notifications import PostgresListener
from events._write_channel import BridgeChannel, ThreadChannel, WriteChannel
from events._writer import Pending, Writer
from events.catalogue import EventCorrected
from events.database import SQLITE_BUSY_TIMEOUT_MS, create_engine, create_sqlite_writer_engine
from events.envelope import (
    AppendResult,
    Disclosure,
    ExpectedVersion,
    Metadata,
    Proposed,
    RecordedEvent,
)
from events.errors import StoreUnavailable
from events.migrate import migrate
from events.rules import DocumentLimits, check_stream_id, decider_for, deciders
from events.schema import events as events_table
from events.schema import personal_values
from events.schema import streams as streams_table
from events.validation import Prepared, encode_metadata, validate_batch

log = logging.getLogger(__name__)

T = TypeVar("T")

_COLUMNS = (
    events_table.c.position,
    events_table.c.event_id,
    events_table.c.stream_id,
    events_table.c.version,
    events_table.c.type,
    events_table.c.schema_version,
    events_table.c.occurred_at,
    events_table.c.recorded_at,
    events_table.c.data,
    events_table.c.metadata,
    events_table.c.prev_hash,
    events_table.c.hash,
)


class EventStore:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch_events: int = 1000,
        writer_engine: Engine | None = None,
        document_limits: DocumentLimits | None = None,
        read_only: bool = False,
    ) -> None:
        """`writer_engine`: SQLite only, the writer's synchronous engine (made from `engine`'s
        URL with default settings if not given); see `events._write_channel`.
        `document_limits`: the caps on an agreement's lists (default: `DocumentLimits()`).
        `read_only`: no writer (no thread, no second engine, no listener) for commands that
        only read (verify, backup, replay, export); `append` refuses."""
        self.engine = engine
        self.dialect = engine.dialect.name
        self.max_batch_events = max_batch_events
        self._listeners: list[tuple[Callable[[int], None], frozenset[str] | None]] = []
        channel: WriteChannel
        self.writer_engine: Engine | None = None
        self._writer: Writer | None = None
        self._remote: PostgresListener | None = None
        if read_only:
            return
        if self.dialect == "sqlite":
            self.writer_engine = writer_engine or create_sqlite_writer_engine(
                engine.url.render_as_string(hide_password=False)
            )
            channel = ThreadChannel(self.writer_engine)
        else:
            channel = BridgeChannel(engine)
        self._writer = Writer(
            channel,
            postgres=self.dialect == "postgresql",
            on_commit=self._notify,
            rules=deciders(document_limits or DocumentLimits()),
        )

    @property
    def sync_engines(self) -> tuple[Engine, ...]:
        """Every engine's synchronous core, for event hooks: the readers' and the writer's."""
        return (self.engine.sync_engine,) + ((self.writer_engine,) if self.writer_engine else ())

    async def start(self) -> None:
        if self._writer is None:
            return
        self._writer.start()
        if self.dialect == "postgresql":
            self._remote = PostgresListener(self.engine, self._notify)
            await self._remote.start()

    async def close(self) -> None:
        """Finish queued appends, stop listening, release the database."""
        if self._writer is not None:
            await self._writer.stop()
        if self._remote is not None:
            await self._remote.stop()
        await self.engine.dispose()

    def add_listener(
        self, callback: Callable[[int], None], *, streams: frozenset[str] | None = None
    ) -> None:
        """Call `callback(head)` after each commit; with `streams`, only after commits that
        may have touched one of them (this instance's own commits say which streams they
        touched; another instance's, heard through PostgreSQL, do not, so they always count)."""
        self._listeners.append((callback, streams))

    def _notify(self, head: int, touched: frozenset[str] | None = None) -> None:
        for callback, streams in self._listeners:
            if streams is not None and touched is not None and streams.isdisjoint(touched):
                continue
            try:
                callback(head)
            except Exception:
                log.exception("append listener failed")

    async def run_write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` (synchronous; it begins and commits its own transaction) as a writer
        of this database: on SQLite in the writer's thread, on its connection, in turn with
        appends, so the two never wait on SQLite's lock (whose busy handler sleeps in steps
        of milliseconds) and the lock is held for one hop, not one per statement. On
        PostgreSQL on a pooled connection of its own. For the projection runner's batches."""
        if self.writer_engine is None or self._writer is None:
            async with self.engine.connect() as connection:
                return await connection.run_sync(work)
        return await self._writer.run_beside(work)

    async def append(
        self,
        stream_id: str,
        events: Sequence[Proposed],
        *,
        expected_version: ExpectedVersion = "any",
        metadata: Metadata,
    ) -> AppendResult:
        """Append a batch atomically. Raises ValidationFailed, RuleViolation,
        WrongExpectedVersion, IdempotencyConflict or StoreUnavailable; on any of them nothing of
        the batch is stored. A retry of a stored batch returns its result with created=False."""
        check_stream_id(stream_id)
        decider_for(stream_id)
        prepared = validate_batch(events, max_events=self.max_batch_events)
        pending = Pending(
            stream_id,
            expected_version,
            prepared,
            encode_metadata(metadata),
            prelude=_rectification(stream_id, prepared),
        )
        if self._writer is None:
            raise StoreUnavailable("the store was opened read-only")
        return await self._writer.submit(pending)

    async def append_after(
        self,
        prelude: Callable[[Connection], None],
        stream_id: str,
        events: Sequence[Proposed],
        *,
        metadata: Metadata,
    ) -> AppendResult:
        """Run `prelude` and append `events` in one transaction of the writer's, a group of
        its own: for an erasure, which rewrites rows and records that it did, both or
        neither. Whatever `prelude` raises fails the append (nothing is stored)."""
        check_stream_id(stream_id)
        decider_for(stream_id)
        prepared = validate_batch(events, max_events=self.max_batch_events)
        pending = Pending(stream_id, "any", prepared, encode_metadata(metadata), prelude=prelude)
        if self._writer is None:
            raise StoreUnavailable("the store was opened read-only")
        return await self._writer.submit(pending)

    async def read_stream(
        self,
        stream_id: str,
        *,
        after_version: int = 0,
        limit: int | None = None,
        until_position: int | None = None,
    ) -> list[RecordedEvent]:
        # Through the stream's integer key, so the (stream_key, version) index serves it.
        key = select(streams_table.c.stream_key).where(streams_table.c.stream_id == stream_id)
        query = (
            select(*_COLUMNS)
            .where(events_table.c.stream_key == key.scalar_subquery())
            .where(events_table.c.version > after_version)
            .order_by(events_table.c.version)
        )
        if until_position is not None:
            query = query.where(events_table.c.position <= until_position)
        if limit is not None:
            query = query.limit(limit)
        return await self._fetch(query)

    async def stream_version(self, stream_id: str) -> int:
        query = select(streams_table.c.version).where(streams_table.c.stream_id == stream_id)
        async with self.engine.connect() as connection:
            version = (await connection.execute(query)).scalar()
        return version or 0

    async def read_all(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        types: Sequence[str] | None = None,
        category: str | None = None,
        until: int | None = None,
        stream: str | None = None,
    ) -> list[RecordedEvent]:
        query = select(*_COLUMNS).where(events_table.c.position > after)
        if stream is not None:  # through the stream's key, so its index serves the read
            key = select(streams_table.c.stream_key).where(streams_table.c.stream_id == stream)
            query = query.where(events_table.c.stream_key == key.scalar_subquery())
        if until is not None:
            query = query.where(events_table.c.position <= until)
        if types:
            query = query.where(events_table.c.type.in_(list(types)))
        if category:
            query = query.where(
                events_table.c.stream_id.startswith(f"{category}-", autoescape=True)
            )
        return await self._fetch(query.order_by(events_table.c.position).limit(limit))

    async def head(self) -> int:
        async with self.engine.connect() as connection:
            head = (await connection.execute(select(func.max(events_table.c.position)))).scalar()
        return head or 0

    async def _fetch(self, query: Select[Any]) -> list[RecordedEvent]:
        """The events `query` selects, each with its personal values' disclosures (read in
        the same transaction, so an erasure is seen in both or in neither)."""
        async with self.engine.connect() as connection, connection.begin():
            rows = (await connection.execute(query)).all()
            disclosures = await _disclosures(connection, [row[0] for row in rows])
        return [_to_event(row, disclosures.get(row[0], ())) for row in rows]


_P = personal_values.c
_DISCLOSURES = select(_P.position, _P.path, _P.person_id, _P.salt, _P.commitment).order_by(
    _P.position, _P.path
)


async def _disclosures(
    connection: AsyncConnection, positions: list[int]
) -> dict[int, tuple[Disclosure, ...]]:
    if not positions:
        return {}
    low, high = positions[0], positions[-1]
    if high - low + 1 == len(positions):  # a run of the log: a range of the primary key
        query = _DISCLOSURES.where(_P.position.between(low, high))
    else:
        query = _DISCLOSURES.where(_P.position.in_(positions))
    found: dict[int, list[Disclosure]] = {}
    for position, path, person, salt, commitment in await connection.execute(query):
        found.setdefault(position, []).append(
            Disclosure(path=path, person_id=person, salt=salt.hex())
            if salt is not None
            else Disclosure(path=path, person_id=person, commitment=bytes(commitment).hex())
        )
    return {position: tuple(items) for position, items in found.items()}


def _to_event(row: Any, personal: tuple[Disclosure, ...] = ()) -> RecordedEvent:
    return RecordedEvent(
        position=row[0],
        event_id=row[1],
        stream_id=row[2],
        version=row[3],
        type=row[4],
        schema_version=row[5],
        occurred_at=row[6],
        recorded_at=row[7],
        data=msgspec.Raw(row[8]),
        metadata=msgspec.Raw(row[9]),
        prev_hash=row[10],
        hash=row[11],
        personal=personal,
    )


async def open_store(
    url: str,
    *,
    max_batch_events: int = 1000,
    document_limits: DocumentLimits | None = None,
    read_only: bool = False,
    **engine_settings: Any,
) -> EventStore:
    """Create the engine, migrate the schema, start the writer: a store ready to use.
    `read_only`: start no writer (see `EventStore`)."""
    engine = create_engine(url, **engine_settings)
    try:
        await migrate(engine)
    except BaseException:
        await engine.dispose()
        raise
    writer_engine = None
    if engine.dialect.name == "sqlite" and not read_only:
        busy_timeout = engine_settings.get("sqlite_busy_timeout_ms", SQLITE_BUSY_TIMEOUT_MS)
        writer_engine = create_sqlite_writer_engine(url, sqlite_busy_timeout_ms=busy_timeout)
    store = EventStore(
        engine,
        max_batch_events=max_batch_events,
        writer_engine=writer_engine,
        document_limits=document_limits,
        read_only=read_only,
    )
    await store.start()
    return store


def _rectification(
    stream_id: str, prepared: Sequence[Prepared]
) -> Callable[[Connection], None] | None:
    """The prelude erasing the values that corrections asking for it replace, if any does
    (`events.rectification`)."""
    asking = [
        e.data for e in prepared if isinstance(e.data, EventCorrected) and e.data.erase_original
    ]
    if not asking:
        return None
    from events.rectification import rectify  # it builds on events.erasure, which needs this

    return functools.partial(rectify, stream_id=stream_id, corrections=asking)
