"""The projection runner: applies the log to every read model, batch by batch.

One transaction per batch covers all read models and their checkpoints, so a crash applies a
batch entirely or not at all. Everything but the writes happens before that transaction
(reading the log, loading documents, folding, encoding), so the database's write lock, which
on SQLite the event writer needs too, is held only for a few bulk statements; on SQLite that
transaction runs on the event writer's own thread and connection (`EventStore.run_write`),
in turn with appends, so neither ever waits on the other's lock. The runner is
woken by the store's append listener and polls as a fallback. Under a stream of appends it
applies at most every `coalesce` seconds, so that many appends share one batch instead of
each commit being followed by a projection transaction competing for the lock; a lone append,
or a reader waiting for its write (`wait_for`), is applied at once.

On PostgreSQL only the instance holding the lease applies (`_lease`); the others follow the
checkpoint (woken by NOTIFY, polling as a fallback) so that `wait_for` works on every
instance, and take over when the holder dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from events.catalogue import REWRITING_TYPES, rewrites
from events.erasure import scrub_files
from events.log_reads import log_rows
from events.personal import folding, log_secret
from events.schema import events as events_table
from events.store import EventStore
from projections import positions
from projections._lease import CHANNEL, Lease
from projections.cache import ReadCache
from projections.rebuild import rebuild
from projections.schema import LIVE
from projections.setup import prepare_tables
from projections.working_set import WorkingSet

log = logging.getLogger(__name__)

_FAST_POLL = 0.05
"""Seconds between checkpoint polls while a `wait_for` is pending on a non-applier."""


class _Moved(Exception):
    """The checkpoints are not where this runner left them: someone else applied."""


class ProjectionRunner:
    def __init__(
        self,
        store: EventStore,
        *,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        coalesce: float = 0.05,
        max_docs: int = 5000,
        max_events_held: int = 200_000,
        cache: ReadCache | None = None,
    ) -> None:
        """`max_docs`, `max_events_held`: documents kept in memory between batches (saves a
        load per batch), bounded by count and by the events folded into them. `cache`: the
        readers' cache of stored bytes, which this runner keeps true (see `projections.cache`).
        """
        self._store = store
        self._engine: AsyncEngine = store.engine
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._coalesce = coalesce
        self._max_docs = max_docs
        self._max_events_held = max_events_held
        self.cache = cache if cache is not None else ReadCache()
        self._position = 0
        self._working = WorkingSet(LIVE)
        self._lease = Lease(self._engine, self._heard)
        self._apply_lock = asyncio.Lock()
        self._wake: asyncio.Event | None = None
        self._urgent: asyncio.Event | None = None
        self._advanced: asyncio.Event | None = None
        self._waiters = 0
        self._more = False
        self._task: asyncio.Task[None] | None = None
        self._listening = False
        self._stopping = False
        self._on_applied: list[Callable[[int], None]] = []
        self._on_rewritten: list[Callable[[], None]] = []

    @property
    def position(self) -> int:
        """The last position applied (or, on a non-applier, seen in the checkpoint)."""
        return self._position

    @property
    def is_applier(self) -> bool:
        return self._lease.held

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def add_listener(self, callback: Callable[[int], None]) -> None:
        """Call `callback(position)` whenever the position this runner knows advances."""
        self._on_applied.append(callback)

    def add_rewrite_listener(self, callback: Callable[[], None]) -> None:
        """Call `callback()` when the log applied or seen holds an event that rewrote earlier
        rows (an erasure: `events.catalogue.rewrites`): whatever keeps pictures of the
        past must forget them."""
        self._on_rewritten.append(callback)

    async def start(self) -> None:
        """Create or rebuild the tables as needed, then follow the log in the background."""
        if self.running:
            return
        if await prepare_tables(self._engine):
            log.info("projection schema changed: rebuilding from the log")
            await rebuild(self._store, only_if_stale=True)
        await self.refresh()
        self.cache.reset(self._position)
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        if not self._listening:
            self._store.add_listener(self._heard)
            self._listening = True
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="projection-runner")

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._lease.release()
        self._working.discard()
        self.cache.reset(None)

    async def refresh(self) -> int:
        """Read the stored checkpoint (what every instance can see) and adopt it if ahead."""
        async with self._engine.connect() as connection:
            stored = await positions.reached(connection)
        if stored > self._position:
            # From nothing (a process's first look) the listeners are told to forget whatever
            # they hold, rather than the whole log searched for a rewriting event: `type` has
            # no index, so that search would read every event and start-up would grow with
            # the log (benchmarks/scale.py).
            if self._position == 0 or await self._rewrote_between(self._position, stored):
                self._rewritten()
            self.cache.reset(stored)
            self._advance(stored)
        return self._position

    async def catch_up(self) -> int:
        """Apply batches until the log's head as seen now (for tests and one-shot tools).
        Requires the tables to exist (`start()`, or `projections.setup.prepare_tables`)."""
        while await self.apply_batch():
            pass
        return self._position

    async def apply_batch(self) -> bool:
        """Apply the next batch of events, if any; False when there was nothing to apply."""
        async with self._apply_lock:
            start = self._position
            rows = await log_rows(self._engine, after=start, limit=self._batch_size)
            self._more = len(rows) >= self._batch_size
            if not rows:
                return False
            new = rows[-1][0]
            working = self._working
            try:
                if working.needs_load(rows):
                    async with self._engine.connect() as connection:
                        await working.load(connection, rows)
                with folding(await log_secret(self._engine)):
                    working.apply(rows)
                writes = working.take()

                def commit(connection: Connection) -> None:
                    with connection.begin():
                        if not positions.claim(connection, start, new):
                            raise _Moved
                        working.write(connection, writes)
                        if connection.dialect.name == "postgresql":
                            connection.execute(select(func.pg_notify(CHANNEL, str(new))))

                await self._store.run_write(commit)
            except _Moved:
                log.info("projection checkpoints moved elsewhere; following them")
                working.discard()
                self.cache.reset(None)
                self._position = 0
                await self.refresh()
                return True
            except BaseException:
                working.discard()
                raise
            if working.size > self._max_docs or working.weight > self._max_events_held:
                working.evict(working.oldest(self._max_docs // 2, self._max_events_held // 2))
            if any(row[3] in REWRITING_TYPES and rewrites(row[3], bytes(row[7])) for row in rows):
                # Views of other streams were folded again from rewritten rows, and answers
                # held may quote what was erased: hold nothing from before.
                self.cache.reset(new)
                self._rewritten()
                # Folding it again rewrote the views' rows: leave no old page of them in the
                # files either (whoever erased, this process or a command line).
                await scrub_files(self._store)
            else:
                self.cache.advance(start, new, writes.docs)
            self._advance(new)
            return True

    async def wait_for(self, position: int, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until the projections reflect `position`; False if `timeout` (seconds) passed."""
        if self._position >= position:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._waiters += 1
        if self._wake is not None and self._urgent is not None:
            self._urgent.set()
            self._wake.set()
        try:
            while self._position < position:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                if not self.running:
                    await self.refresh()
                    if self._position < position:
                        await asyncio.sleep(min(remaining, _FAST_POLL))
                    continue
                await _wait(self._advanced_event(), remaining)
            return True
        finally:
            self._waiters -= 1

    def _advanced_event(self) -> asyncio.Event:
        if self._advanced is None:
            self._advanced = asyncio.Event()
        return self._advanced

    def _advance(self, position: int) -> None:
        self._position = position
        advanced, self._advanced = self._advanced, None
        if advanced is not None:
            advanced.set()
        for callback in self._on_applied:
            try:
                callback(position)
            except Exception:
                log.exception("projection listener failed")

    async def _rewrote_between(self, after: int, until: int) -> bool:
        """Whether the log holds a rewriting event in (after, until]."""
        e = events_table.c
        query = select(e.type, e.data).where(
            e.position > after, e.position <= until, e.type.in_(sorted(REWRITING_TYPES))
        )
        async with self._engine.connect() as connection:
            found = await connection.execute(query)
            return any(rewrites(type_, bytes(data)) for type_, data in found)

    def _rewritten(self) -> None:
        for callback in self._on_rewritten:
            try:
                callback()
            except Exception:
                log.exception("projection rewrite listener failed")

    def _heard(self, _position: int) -> None:
        """From the store (new head) or the lease (another instance applied): look again."""
        if self._wake is not None and self.running:
            self._wake.set()

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                if await self._lease.acquire():
                    if await self.apply_batch():
                        failures = 0
                        if not self._more:
                            await self._pace()
                        continue
                else:
                    await self.refresh()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                if self._stopping:
                    # `stop()` cancelled a query, and the driver reported it as its own error
                    # (SQLAlchemy wraps asyncpg's CancelledError in an OperationalError).
                    return
                failures += 1
                log.exception("projection batch failed (attempt %d); retrying", failures)
                await asyncio.sleep(min(0.1 * 2**failures, 10.0))
                continue
            await self._idle()

    async def _pace(self) -> None:
        """After applying, let appends gather for `coalesce` seconds (unless a reader is
        waiting for its write): then one batch takes them all."""
        assert self._urgent is not None
        if self._waiters == 0:
            self._urgent.clear()
            await _wait(self._urgent, self._coalesce)

    async def _idle(self) -> None:
        assert self._wake is not None
        fast = self._waiters > 0 and not self._lease.held
        await _wait(self._wake, _FAST_POLL if fast else self._poll_interval)
        self._wake.clear()


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Wait for `event` at most `seconds`. (Not `asyncio.wait_for`: on Python 3.11
    it can swallow a cancellation that races with the event, and `stop()` would hang.)"""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
