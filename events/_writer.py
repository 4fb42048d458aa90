"""Group commit: one writer task takes every append waiting for it into one transaction.

Appends queue up while a transaction runs; the next transaction takes them all (bounded), so
concurrent staff share one durable commit, and a lone append is committed at once. Each append
keeps its own outcome: a refused one is left out of the transaction, not the group.

On PostgreSQL several instances may write: each transaction takes `pg_advisory_xact_lock`
before reading the head, so positions are handed out in commit order, gapless, and a reader
following `position > p` never skips an event that commits later.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from events import _decisions as decisions
from events import stored_tree
from events._write_channel import WriteChannel
from events.catalogue import REWRITING_TYPES, rewrites
from events.database import is_unavailable
from events.envelope import GENESIS_HASH, AppendResult, ExpectedVersion, format_timestamp
from events.errors import StoreError, StoreUnavailable
from events.postgres_names import LOG_CHANNEL as NOTIFY_CHANNEL
from events.postgres_names import LOG_LOCK
from events.rules import DeciderFor, decider_for
from events.schema import events as events_table
from events.schema import log_secrets
from events.schema import personal_values as personal_table
from events.schema import streams as streams_table
from events.upcasting import decode_stored
from events.validation import Prepared

log = logging.getLogger(__name__)

T = TypeVar("T")


_MAX_GROUP_APPENDS = 1000
_MAX_GROUP_EVENTS = 20_000
_DECIDER_CACHE = 10_000
_QUICK_FAILURE = 1.0
"""Seconds within which a failed transaction counts as a dead connection worth one retry."""


@dataclass(slots=True)
class Pending:
    stream_id: str
    expected: ExpectedVersion
    events: list[Prepared]
    metadata: bytes
    future: asyncio.Future[AppendResult] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    prelude: Callable[[Connection], None] | None = None
    """Work done in the append's transaction before its events are staged (an erasure's
    rewrite): an append with one commits in a group of its own, so that its failure is
    nobody else's, and the decider states cached before it are forgotten after it."""


class Writer:
    def __init__(
        self,
        channel: WriteChannel,
        *,
        postgres: bool,
        on_commit: Callable[[int, frozenset[str]], None],
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        rules: DeciderFor = decider_for,
    ) -> None:
        self._channel = channel
        self._rules = rules
        self._postgres = postgres
        self._on_commit = on_commit
        self._clock = clock
        self._queue: asyncio.Queue[Pending | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # stream_id -> (version, decider state): saves folding a stream's past on every append.
        self._states: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._tree = stored_tree.Frontier()
        self._secret: bytes | None = None
        self._head_seen: int | None = None
        """The head after this writer's last transaction: a higher tip at the next one means
        another instance appended (PostgreSQL), maybe an erasure that rewrote rows."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-writer")

    async def stop(self) -> None:
        """Finish every append already queued, then stop."""
        if self._task is None:
            await self._channel.close()
            return
        await self._queue.put(None)
        await self._task
        self._task = None
        await self._channel.close()

    async def run_beside(self, work: Callable[[Connection], T]) -> T:
        """Run another writer's transaction on this writer's channel, between groups."""
        try:
            return await self._channel.run(work)
        except DBAPIError:
            await self._channel.drop()
            raise

    async def submit(self, pending: Pending) -> AppendResult:
        if self._task is None or self._task.done():
            raise StoreUnavailable("the store is not accepting appends (shutting down)")
        await self._queue.put(pending)
        return await pending.future

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            group, count = [first], len(first.events)
            alone: Pending | None = None
            while first.prelude is None and not self._queue.empty():
                if count >= _MAX_GROUP_EVENTS or len(group) >= _MAX_GROUP_APPENDS:
                    break
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                if item.prelude is not None:
                    alone = item
                    break
                group.append(item)
                count += len(item.events)
            await self._commit_group(group)
            if alone is not None:
                await self._commit_group([alone])

    async def _commit_group(self, group: list[Pending]) -> None:
        try:
            started = time.monotonic()
            try:
                outcomes, head = await self._channel.run(
                    lambda connection: self._transact(connection, group)
                )
            except Exception as error:
                # Only a connection found dead at once: a slow failure (a timeout) means the
                # database is unreachable, and retrying would just double the client's wait.
                if time.monotonic() - started > _QUICK_FAILURE or not self._retryable(error):
                    raise
                # The database dropped the writer's connection (restart, failover, an admin's
                # pg_terminate_backend): one retry on a fresh connection hides that from
                # clients. Every id is looked up on the retry, so a commit that succeeded
                # before the connection died is found, not stored twice.
                self._states.clear()
                self._tree.forget()
                await self._channel.drop()
                outcomes, head = await self._channel.run(
                    lambda connection: self._transact(connection, group, look_up_every_id=True)
                )
        except Exception as error:  # the whole transaction failed: nobody's events were stored
            self._states.clear()
            self._tree.forget()
            failure = _as_store_error(error)
            for pending in group:
                if not pending.future.done():
                    pending.future.set_exception(failure)
            await self._channel.drop()
            return
        for pending, outcome in zip(group, outcomes, strict=True):
            if pending.future.done():  # the caller went away (cancelled); nothing to tell
                continue
            if isinstance(outcome, BaseException):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)
        if head is not None:
            touched = frozenset(
                pending.stream_id
                for pending, outcome in zip(group, outcomes, strict=True)
                if isinstance(outcome, AppendResult) and outcome.created
            )
            self._on_commit(head, touched)

    def _retryable(self, error: Exception) -> bool:
        """A PostgreSQL failure of the connection rather than of our statements. A dead
        connection does not always say so: asyncpg may report a confused protocol state
        ("another operation is in progress") instead; any driver error qualifies, since the
        retry cannot store anything twice."""
        return is_unavailable(error) or (self._postgres and isinstance(error, DBAPIError))

    def _transact(
        self, connection: Connection, group: list[Pending], *, look_up_every_id: bool = False
    ) -> tuple[list[AppendResult | BaseException], int | None]:
        """One group's transaction, synchronous: run by the write channel (see there why)."""
        with connection.begin():
            if self._postgres:
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOG_LOCK})
            for pending in group:
                if pending.prelude is not None:
                    pending.prelude(connection)
                    self._states.clear()  # they may hold values the prelude rewrote
            if self._secret is None:
                self._secret = _load_secret(connection)
            tip = _load_tip(connection)
            if _rewritten_since(connection, self._head_seen, tip.position):
                self._states.clear()  # another instance erased: states may hold old values
            known = _load_ids(connection, group, every_id=look_up_every_id)
            streams = _load_streams(connection, {p.stream_id for p in group})
            next_key = (
                _next_stream_key(connection)
                if len(streams) < len({p.stream_id for p in group})
                else 0
            )
            self._refresh_states(connection, streams)

            # The ids stored already and those staged by the group so far, in one mapping that
            # staging adds to (not merged anew for every append of the group).
            staged = decisions.Staged(ids=known)
            recorded_at = format_timestamp(self._clock())
            outcomes: list[AppendResult | BaseException] = []
            for pending in group:
                try:
                    stream = streams.get(pending.stream_id)
                    if stream is None:
                        stream = decisions.StreamState(
                            key=next_key,
                            version=0,
                            decider_state=self._rules(pending.stream_id).initial(),
                            is_new=True,
                        )
                    outcome = decisions.already_stored(
                        pending.stream_id, pending.events, staged.ids
                    )
                    if outcome is None:
                        decisions.check_expected(
                            pending.stream_id, pending.expected, stream.version
                        )
                        new_state = decisions.decide(
                            pending.stream_id, pending.events, stream, self._rules
                        )
                        outcome = decisions.stage(
                            pending.stream_id,
                            pending.events,
                            pending.metadata,
                            stream,
                            tip,
                            recorded_at,
                            staged,
                            secret=self._secret,
                        )
                        stream.decider_state = new_state
                        if stream.is_new and pending.stream_id not in streams:
                            streams[pending.stream_id] = stream
                            next_key += 1
                    outcomes.append(outcome)
                except StoreError as refusal:
                    outcomes.append(refusal)
                except Exception as bug:  # a decider bug must not take the group down
                    log.exception("append to %s failed", pending.stream_id)
                    outcomes.append(bug)

            for pending, result in zip(group, outcomes, strict=True):
                if pending.prelude is not None and isinstance(result, BaseException):
                    raise result  # roll back what the prelude rewrote: both or neither
            if not staged.rows:  # only retries and refusals: keep what was folded anyway
                self._remember_all(streams)
                self._head_seen = tip.position
                return outcomes, None
            _write(connection, streams, staged)
            # The Merkle tree's new nodes, in the same transaction: size and last leaf come
            # from the first row (its position and prev_hash), the leaves are the rows' hashes.
            first = staged.rows[0]
            self._tree.extend(connection, first[0] - 1, first[-2], staged.leaves)
            if self._postgres:
                connection.execute(
                    text("SELECT pg_notify(:channel, :head)"),
                    {"channel": NOTIFY_CHANNEL, "head": str(tip.position)},
                )
        self._tree.committed()
        self._remember_all(streams)
        self._head_seen = tip.position
        return outcomes, tip.position

    def _refresh_states(
        self, connection: Connection, streams: dict[str, decisions.StreamState]
    ) -> None:
        """Give each stream its decider state, folding only events the cache has not seen."""
        for stream_id, stream in streams.items():
            cached_version, state = self._states.get(stream_id, (0, None))
            if state is None or cached_version > stream.version:
                cached_version, state = 0, self._rules(stream_id).initial()
            if cached_version < stream.version:
                decider = self._rules(stream_id)
                rows = connection.execute(
                    select(
                        events_table.c.event_id,
                        events_table.c.type,
                        events_table.c.schema_version,
                        events_table.c.data,
                    )
                    .where(events_table.c.stream_key == stream.key)
                    .where(events_table.c.version > cached_version)
                    .order_by(events_table.c.version)
                )
                decoded = [
                    (event_id, decode_stored(type_, version, data))
                    for event_id, type_, version, data in rows
                ]
                # a type this code does not know (None) cannot be a rule's
                known = [(event_id, event) for event_id, event in decoded if event is not None]
                state = decider.fold(
                    state, [event for _, event in known], [event_id for event_id, _ in known]
                )
            stream.decider_state = state

    def _remember_all(self, streams: dict[str, decisions.StreamState]) -> None:
        for stream_id, stream in streams.items():
            self._remember(stream_id, stream.version, stream.decider_state)

    def _remember(self, stream_id: str, version: int, state: Any) -> None:
        self._states[stream_id] = (version, state)
        self._states.move_to_end(stream_id)
        while len(self._states) > _DECIDER_CACHE:
            self._states.popitem(last=False)


# The writer's statements, built once: building a statement (and its cache key) on every
# execution was a good part of a small group's time. A list of ids is one parameter (a JSON
# array on SQLite, an array on PostgreSQL), not an IN list of one parameter per id, which
# SQLAlchemy renders anew at every execution (a tenth of a 1,000-event append).
_E, _S = events_table.c, streams_table.c
_TIP = select(_E.position, _E.hash, _E.recorded_at).order_by(_E.position.desc()).limit(1)
_LAST_KEY = select(func.max(_S.stream_key))


def _in_ids(column: str) -> dict[bool, str]:
    """`column` is one of the list parameter `:ids` (see `_id_list`), by `postgres`."""
    return {
        False: f"{column} IN (SELECT value FROM json_each(:ids))",
        True: f"{column} = ANY(:ids)",
    }


_IDS = {
    postgres: text(
        "SELECT event_id, stream_id, version, position, type, data, occurred_at, recorded_at "
        f"FROM events WHERE {condition}"
    )
    for postgres, condition in _in_ids("event_id").items()
}
_STREAMS = {
    postgres: text(f"SELECT stream_id, stream_key, version FROM streams WHERE {condition}")
    for postgres, condition in _in_ids("stream_id").items()
}


def _id_list(connection: Connection, ids: list[str]) -> object:
    """`ids` as one parameter: a JSON array on SQLite, an array on PostgreSQL."""
    return ids if _is_postgres(connection) else _JSON.encode(ids).decode()


def _is_postgres(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


_JSON = msgspec.json.Encoder()


def _rewritten_since(connection: Connection, seen: int | None, head: int) -> bool:
    """Whether another writer appended a rewriting event after `seen` (up to `head`)."""
    if seen is None or head <= seen:
        return False
    query = select(_E.type, _E.data).where(
        _E.position > seen, _E.position <= head, _E.type.in_(sorted(REWRITING_TYPES))
    )
    return any(rewrites(type_, bytes(data)) for type_, data in connection.execute(query))


def _load_tip(connection: Connection) -> decisions.Tip:
    row = connection.execute(_TIP).first()
    if row is None:
        return decisions.Tip(0, GENESIS_HASH, "")
    return decisions.Tip(row.position, row.hash, row.recorded_at)


def _load_ids(
    connection: Connection, group: Sequence[Pending], *, every_id: bool
) -> dict[str, decisions.StoredId]:
    """Stored events among the ids clients chose (store-made ids cannot be stored yet, unless
    this is a retry after a commit whose outcome was lost: `every_id`)."""
    wanted = [e.event_id for p in group for e in p.events if every_id or e.client_supplied_id]
    if not wanted:
        return {}
    rows = connection.execute(_IDS[_is_postgres(connection)], {"ids": _id_list(connection, wanted)})
    return {row[0]: decisions.StoredId(*row[1:]) for row in rows}


def _load_streams(connection: Connection, stream_ids: set[str]) -> dict[str, decisions.StreamState]:
    rows = connection.execute(
        _STREAMS[_is_postgres(connection)], {"ids": _id_list(connection, sorted(stream_ids))}
    )
    return {
        stream_id: decisions.StreamState(key, version, None) for stream_id, key, version in rows
    }


def _load_secret(connection: Connection) -> bytes:
    """The key of person ids (`events.personal.person_id`), made by the schema's migration."""
    secret = connection.execute(
        select(log_secrets.c.secret).where(log_secrets.c.name == "person_id")
    ).scalar()
    if secret is None:
        raise StoreError("the log has no person-id secret (is the schema migrated?)")
    return bytes(secret)


def _next_stream_key(connection: Connection) -> int:
    current = connection.execute(_LAST_KEY).scalar()
    return (current or 0) + 1


def _write(
    connection: Connection,
    streams: dict[str, decisions.StreamState],
    staged: decisions.Staged,
) -> None:
    touched = staged.streams
    new = [
        {"stream_key": s.key, "stream_id": sid, "version": s.version}
        for sid, s in streams.items()
        if sid in touched and s.is_new
    ]
    moved = [(s.version, s.key) for sid, s in streams.items() if sid in touched and not s.is_new]
    if new:
        connection.execute(streams_table.insert(), new)
    # The driver's own executemany for the per-row statements: these rows are plain tuples
    # already, so SQLAlchemy's per-row parameter processing would only cost time.
    if moved:
        connection.exec_driver_sql(_driver_sql(connection, _MOVE, ("new_version", "key")), moved)
    connection.exec_driver_sql(_driver_sql(connection, _INSERT, decisions.ROW_COLUMNS), staged.rows)
    if staged.personal:
        connection.exec_driver_sql(
            _driver_sql(connection, _INSERT_PERSONAL, _PERSONAL_COLUMNS), staged.personal
        )
    for s in streams.values():
        s.is_new = False


_INSERT = events_table.insert()
_INSERT_PERSONAL = personal_table.insert()
_PERSONAL_COLUMNS = ("position", "path", "person_id", "salt", "commitment")
_MOVE = (
    update(streams_table)
    .where(streams_table.c.stream_key == bindparam("key"))
    .values(version=bindparam("new_version"))
)
_DRIVER_SQL: dict[tuple[int, str], str] = {}


def _driver_sql(connection: Connection, statement: Any, order: tuple[str, ...]) -> str:
    """`statement` (one of the module's own, kept for the process's life: the cache knows it
    by identity) as the driver's SQL text, its positional parameters in `order`."""
    dialect = connection.dialect
    key = (id(statement), dialect.name)
    if key not in _DRIVER_SQL:
        compiled = statement.compile(dialect=dialect)
        assert tuple(compiled.positiontup or ()) == order, compiled.positiontup
        _DRIVER_SQL[key] = str(compiled)
    return _DRIVER_SQL[key]


def _as_store_error(error: Exception) -> Exception:
    if isinstance(error, StoreError):
        return error
    if isinstance(error, DBAPIError | SQLAlchemyError | OSError | asyncio.TimeoutError):
        log.warning("append transaction failed: %s", error)
        return StoreUnavailable(f"the database did not accept the write: {type(error).__name__}")
    log.error("append transaction failed", exc_info=error)
    return error
