"""Erasing a person's data from the log (GDPR Art. 17) while every proof of it stays valid.

`erase(store, person_id, ...)` does, in one transaction of the writer's (both or neither):

1. every value of the person still held (`personal_values` rows with a salt), and the text of
   every held note that writes one of their names, is replaced in its event's stored data by
   its placeholder (`events.personal.placeholder`);
2. those rows lose their salt: only the commitment the chain covers is left, and without the
   salt it cannot be tested against guessed names;
3. `PersonalDataErased {person_id, legal_basis, reason, streams}` is appended to
   `person-<person_id>`, with the actor in its metadata; `streams` names the streams whose
   rows were rewritten, which the projections fold again (`projections.fold`).

The hash chain covers the commitments, not the values (`events.hashing`), so every hash,
checkpoint, consistency and inclusion proof, and every export taken before, still verifies.
The events table refuses UPDATE by trigger; the trigger lets through an UPDATE of `data` alone
at a position listed in `erasures_in_progress`, a table this transaction fills and empties
(so no committed state ever lists a position): nothing else may change a stored event.

Then the files: SQLite runs with `secure_delete` on (freed and overwritten content is zeroed)
and the write-ahead log is checkpointed and truncated after the commit, so neither the database
file nor its WAL, nor a backup made afterwards, holds the erased bytes. On PostgreSQL the
rewritten tables are vacuumed, which removes the old row versions from the table; what the
server's WAL archives and base backups made before still hold is theirs to expire (README).

Erasing is idempotent: a person with nothing left to erase gets the earlier erasure's answer
(`created` False), and a crash before the commit leaves everything as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import time
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import msgspec
from sqlalchemy import ColumnElement, bindparam, delete, insert, select, text, update
from sqlalchemy.engine import Connection, make_url

from events.catalogue import NoteErased, PersonalDataErased
from events.envelope import Metadata, Proposed
from events.errors import StoreError
from events.personal import get_at, placeholder, set_at
from events.schema import erasures_in_progress
from events.schema import events as events_table
from events.schema import personal_values as personal_table
from events.store import EventStore

log = logging.getLogger(__name__)

_P, _E = personal_table.c, events_table.c
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_CHECKPOINT_ATTEMPTS = 50
_STREAM_ATTEMPTS = 5


class UnknownPerson(StoreError):
    """No event of the log names this person."""

    def __init__(self, person_id: str) -> None:
        self.person_id = person_id
        super().__init__(f"no event names the person {person_id}")


class _NothingLeft(StoreError):
    """Every value of the person was erased already (found inside the transaction)."""


class _StreamsMoved(StoreError):
    """Inside the transaction, the rows to rewrite were not in the streams looked up before
    it (an append named the person in another stream meanwhile)."""


@dataclass(frozen=True, slots=True)
class ErasureResult:
    person_id: str
    position: int
    """Where the log records the erasure (`PersonalDataErased`)."""
    created: bool
    """False when the person had nothing left to erase: `position` is the earlier erasure."""
    files_scrubbed: bool = True
    """SQLite: the WAL was checkpointed and truncated; PostgreSQL: the tables were vacuumed.
    False if that could not be done now (readers held the WAL): run it again later."""


def person_stream(person_id: str) -> str:
    return f"person-{person_id}"


async def erase(
    store: EventStore,
    person_id: str,
    *,
    legal_basis: str,
    reason: str,
    metadata: Metadata,
) -> ErasureResult:
    """Erase every value of `person_id` held in the log (see the module docstring).

    Raises UnknownPerson if no event names the person, ValidationFailed for a legal basis or
    reason the catalogue refuses (nothing is changed then).
    """
    if not await _named(store, person_id):
        raise UnknownPerson(person_id)
    for _ in range(_STREAM_ATTEMPTS):
        streams = await streams_to_refold(store, person_id, held_only=True)
        recorded = PersonalDataErased(
            person_id=person_id, legal_basis=legal_basis, reason=reason, streams=streams
        )
        try:
            result = await store.append_after(
                functools.partial(_rewrite, person_id=person_id, streams=streams),
                person_stream(person_id),
                [Proposed(type=recorded.type_name, data=recorded)],
                metadata=metadata,
            )
        except _StreamsMoved:
            continue  # an append named the person in another stream meanwhile: look again
        except _NothingLeft:
            earlier = await store.read_stream(person_stream(person_id))
            if not earlier:  # values erased by another way (a note's erasure): nothing recorded
                raise UnknownPerson(person_id) from None
            return ErasureResult(person_id, earlier[-1].position, created=False)
        scrubbed = await scrub_files(store)
        return ErasureResult(person_id, result.to_position, created=True, files_scrubbed=scrubbed)
    raise StoreError("the person's events kept changing during the erasure; try again")


async def _named(store: EventStore, person_id: str) -> bool:
    query = select(_P.position).where(_P.person_id == person_id).limit(1)
    async with store.engine.connect() as connection:
        return (await connection.execute(query)).first() is not None


def _rewrite(connection: Connection, *, person_id: str, streams: list[str]) -> None:
    """Inside the writer's transaction: the person's placeholders in, salts out (raises
    _NothingLeft, or _StreamsMoved if the rows rewritten are not all in `streams`, the
    streams the recorded event names for the projections to fold again)."""
    rewrite_values(connection, _person_rows(connection, person_id), streams)


HeldValue = tuple[int, str, str | None, str]
"""A held personal value: position, JSON pointer, person id (None: a note's text), stream."""


def held_values(connection: Connection, chosen: ColumnElement[bool]) -> list[HeldValue]:
    rows = connection.execute(
        select(_P.position, _P.path, _P.person_id, _E.stream_id)
        .join(events_table, _E.position == _P.position)
        .where(chosen)
        .where(_P.salt.is_not(None))
        .order_by(_P.position)
    ).all()
    return [(position, path, person, stream) for position, path, person, stream in rows]


def _person_rows(connection: Connection, person_id: str) -> list[HeldValue]:
    """The person's held values, and the texts of held notes that write one of their names
    (a note may name anyone: one that names the person is theirs to have erased too)."""
    own = held_values(connection, _P.person_id == person_id)
    names = {
        _folded(str(get_at(_decode(data), path)))
        for position, path, _, _ in own
        if path.endswith("/name")
        for data in connection.execute(select(_E.data).where(_E.position == position)).scalars()
    }
    if not names:
        return own
    notes = []
    for held in held_values(connection, _P.person_id.is_(None)):
        data = connection.execute(select(_E.data).where(_E.position == held[0])).scalar_one()
        text = _folded(str(get_at(_decode(data), held[1])))
        if any(name in text for name in names):
            notes.append(held)
    return sorted([*own, *notes])


def _folded(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def rewrite_values(connection: Connection, held: list[HeldValue], streams: list[str]) -> None:
    """Erase the held personal values `held` (raises _NothingLeft if there are none)."""
    if not held:
        raise _NothingLeft("nothing left to erase")
    if {stream for *_, stream in held} != set(streams):
        raise _StreamsMoved("the streams naming the person changed")
    paths: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
    for position, path, person, _ in held:
        paths[position].append((path, person))
    connection.execute(insert(erasures_in_progress), [{"position": p} for p in paths])
    for position, pointers in paths.items():
        stored = connection.execute(select(_E.data).where(_E.position == position)).scalar_one()
        document = _decode(stored)
        for pointer, person in pointers:
            set_at(document, pointer, placeholder(pointer, person))
        connection.execute(
            update(events_table).where(_E.position == position).values(data=_encode(document))
        )
    connection.execute(
        update(personal_table)
        .where(_P.position == bindparam("at"), _P.path == bindparam("pointer"))
        .values(salt=None),
        [{"at": position, "pointer": path} for position, path, _, _ in held],
    )
    connection.execute(delete(erasures_in_progress))


NOTE_ERASURES = "erasure-notes"
"""The stream recording the erasures of notes' texts (`NoteErased`)."""


class UnknownNote(StoreError):
    """No note with this event id (or the event holds no note text)."""

    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        super().__init__(f"no note with event id {event_id}")


async def erase_note(
    store: EventStore,
    event_id: str,
    *,
    legal_basis: str,
    reason: str,
    metadata: Metadata,
) -> ErasureResult:
    """Erase the text of the note `event_id` (a note may name anyone, so it is erased by
    event, not by person) and record `NoteErased` in `erasure-notes`; as `erase` otherwise.
    The result's `person_id` is the event id."""
    query = (
        select(_P.position, _E.stream_id)
        .join(events_table, _E.position == _P.position)
        .where(_E.event_id == event_id)
        .where(_P.person_id.is_(None))
    )
    async with store.engine.connect() as connection:
        found = (await connection.execute(query)).first()
    if found is None:
        raise UnknownNote(event_id)
    position, stream_id = found
    recorded = NoteErased(
        event_id=event_id, legal_basis=legal_basis, reason=reason, streams=[stream_id]
    )
    chosen = (_P.position == position) & _P.person_id.is_(None)
    try:
        result = await store.append_after(
            lambda connection: rewrite_values(
                connection, held_values(connection, chosen), [stream_id]
            ),
            NOTE_ERASURES,
            [Proposed(type=recorded.type_name, data=recorded)],
            metadata=metadata,
        )
    except _NothingLeft:
        earlier = [
            e
            for e in await store.read_stream(NOTE_ERASURES)
            if _decode(e.data).get("event_id") == event_id
        ]
        if not earlier:
            raise UnknownNote(event_id) from None
        return ErasureResult(event_id, earlier[-1].position, created=False)
    scrubbed = await scrub_files(store)
    return ErasureResult(event_id, result.to_position, created=True, files_scrubbed=scrubbed)


async def scrub_files(store: EventStore) -> bool:
    """Leave no copy of rewritten rows in the database's files (see the module docstring);
    True if done."""
    if store.dialect == "sqlite":
        database = make_url(store.engine.url).database
        if not database or database == ":memory:":
            return True
        return await asyncio.to_thread(_truncate_wal, Path(database))
    if store.dialect == "postgresql":
        async with store.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM events, personal_values"))
        return True
    return False


def _truncate_wal(path: Path) -> bool:
    """Copy the WAL into the database file and truncate it to nothing. A reader in the middle
    of a read keeps the WAL from being reset: wait for it, a few times."""
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as connection:
        connection.execute("PRAGMA secure_delete=ON")
        for _ in range(_CHECKPOINT_ATTEMPTS):
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return True
            time.sleep(0.02)  # a reader is in the middle of a read: let it finish
    log.warning("the WAL of %s could not be truncated after an erasure: readers held it", path)
    return False


# --- finding people -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonSummary:
    person_id: str
    streams: tuple[str, ...]
    """The streams whose events name the person, sorted."""
    values: int
    """How many personal values of theirs the log has recorded."""
    erased: bool
    """True when none of them is held any more."""


async def people(
    store: EventStore,
    *,
    after: str | None = None,
    limit: int | None = None,
    only: str | None = None,
) -> list[PersonSummary]:
    """The people the log names, by person id, with the streams they appear in: those whose
    id sorts after `after`, at most `limit` of them, or only the person `only`. The people
    are chosen in the person index first, so a page reads its own people's rows and no
    others, however long the log."""
    chosen = select(_P.person_id).where(_P.person_id.is_not(None)).distinct()
    if after is not None:
        chosen = chosen.where(_P.person_id > after)
    if only is not None:
        chosen = chosen.where(_P.person_id == only)
    if limit is not None:
        chosen = chosen.order_by(_P.person_id).limit(limit)
    query = (
        select(_P.person_id, _E.stream_id, _P.salt.is_(None))
        .join(events_table, _E.position == _P.position)
        .where(_P.person_id.in_(chosen.scalar_subquery()))
    )
    found: dict[str, tuple[set[str], list[bool]]] = {}
    async with store.engine.connect() as connection:
        for person, stream_id, gone in await connection.execute(query):
            streams, erased = found.setdefault(person, (set(), []))
            streams.add(stream_id)
            erased.append(bool(gone))
    return [
        PersonSummary(person, tuple(sorted(streams)), len(erased), all(erased))
        for person, (streams, erased) in sorted(found.items())
    ]


async def streams_to_refold(
    store: EventStore, person_id: str, *, held_only: bool = False
) -> list[str]:
    """The streams whose read models must be folded again after `person_id` is erased: every
    stream with an event naming them (their views copied the values), sorted. The person's
    own `person-…` stream names nobody and needs no refold. `held_only`: only the streams
    an erasure would rewrite now (a value of theirs, or a note naming them, still held)."""
    query = (
        select(_E.stream_id)
        .join(personal_table, _E.position == _P.position)
        .where(_P.person_id == person_id)
        .distinct()
    )
    if held_only:
        async with store.engine.connect() as connection:
            held = await connection.run_sync(lambda sync: _person_rows(sync, person_id))
        return sorted({stream for *_, stream in held})
    async with store.engine.connect() as connection:
        return sorted(row[0] for row in await connection.execute(query))


@dataclass(frozen=True, slots=True)
class Mention:
    """One value of a person in one event: the subject-access report's line."""

    position: int
    stream_id: str
    type: str
    recorded_at: str
    actor: str
    path: str
    value: str
    """As the log holds it now: the value, or its placeholder once erased."""
    erased: bool


async def mentions(store: EventStore, person_id: str) -> list[Mention]:
    """Every value of `person_id` in the log, by position and path ([] for an unknown id)."""
    query = (
        select(
            _P.position,
            _E.stream_id,
            _E.type,
            _E.recorded_at,
            _E.metadata,
            _E.data,
            _P.path,
            _P.salt.is_(None),
        )
        .join(events_table, _E.position == _P.position)
        .where(_P.person_id == person_id)
        .order_by(_P.position, _P.path)
    )
    async with store.engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    found = []
    for position, stream_id, type_, recorded_at, metadata, data, path, gone in rows:
        actor = _decode(metadata).get("actor", "")
        value = get_at(_decode(data), path)
        found.append(
            Mention(position, stream_id, type_, recorded_at, actor, path, str(value), bool(gone))
        )
    return found
