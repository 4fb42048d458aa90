"""Live subscribers of one process: who is following the log, and how far each has got.

A subscriber never receives events pushed at it: it is woken, and then reads the log after
the last position it handed to its client. Nothing can be skipped or sent twice by
construction, whichever way the wake-up came (this process's commit, another instance's
through PostgreSQL's NOTIFY, or the fallback poll), across the switch from catching up to
live, and across reconnects (a reconnect is a new subscriber starting where the last one
stopped).

To keep many subscribers cheap, the hub reads each new stretch of the log once (the *tail*:
the most recent events, already encoded as SSE messages) and subscribers at the tail take
their messages from it; a subscriber behind the tail reads the database a page at a time.
Appends serialize on the store's writer (PostgreSQL: an advisory lock held to the commit), so
positions become visible in order; the tail still stops at any hole it sees, as a reader of
`/events` would.

Back-pressure: the buffer of a subscriber is the log itself, so it holds one page at most in
memory. Once a subscriber has reached the tail it may fall at most `max_lag` events behind the
head; one that falls further (its client is not reading) is told `overflow` and closed. It
reconnects from its last id and catches up from the database at its own pace, costing nobody
else anything. A subscriber whose token is revoked, or a process shutting down, ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Literal

import msgspec
from sse_starlette import ServerSentEvent

from events.catalogue import REWRITING_TYPES, rewrites
from events.envelope import RecordedEvent

if TYPE_CHECKING:
    from events.store import EventStore
    from service.metrics import Metrics
    from service.tokens import TokenTable

log = logging.getLogger(__name__)

Ending = Literal["overflow", "revoked", "shutdown"]

TAIL_EVENTS = 2000
"""Most recent events the hub keeps encoded for subscribers at the head."""
PAGE_EVENTS = 500
"""Events a subscriber behind the tail reads from the database at a time."""
_POLL_SECONDS = 1.0
"""Fallback look at the head, for a notification that never came (a dropped LISTEN)."""
_STOP_GRACE_SECONDS = 2.0
_TOKEN_CHECK_SECONDS = 0.2
"""How often the hub looks whether the token table changed (then checks its subscribers)."""

_encode = msgspec.json.Encoder().encode


def recorded_message(event: RecordedEvent) -> bytes:
    """One `recorded` SSE message: `id:` the position, `data:` the event as `/events` shows it."""
    return ServerSentEvent(
        _encode(event).decode(), id=str(event.position), event="recorded"
    ).encode()


@dataclasses.dataclass(frozen=True, slots=True)
class LogFilter:
    """Which events a subscriber wants: of these types, in this category, of this stream
    (each None or empty: any)."""

    types: frozenset[str] = frozenset()
    category: str | None = None
    stream: str | None = None

    def keep(self, stream_id: str, type_: str) -> bool:
        return (
            (not self.types or type_ in self.types)
            and (self.category is None or stream_id.startswith(f"{self.category}-"))
            and (self.stream is None or stream_id == self.stream)
        )


EVERYTHING = LogFilter()


@dataclasses.dataclass(eq=False)
class Subscriber:
    """One open subscription. `position`: the last position whose messages were handed to the
    client (its send returned), or that was read and had nothing for it."""

    position: int
    token_id: str | None
    wants: LogFilter = EVERYTHING
    follows_log: bool = True
    """False for a subscriber of projection changes: new events alone never concern it."""
    reached_tail: bool = False
    waiting: bool = False
    """Idle at `position` until woken: the hub may move it past events it does not want."""
    ending: Ending | None = None
    wake: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def end(self, why: Ending) -> None:
        if self.ending is None:
            self.ending = why
        self.wake.set()


class TooManySubscribers(Exception):
    """This process already serves its maximum of subscribers (503, retry later)."""


@dataclasses.dataclass(frozen=True, slots=True)
class _TailEvent:
    position: int
    stream_id: str
    type: str
    message: bytes


class Hub:
    def __init__(
        self,
        store: EventStore,
        tokens: TokenTable,
        metrics: Metrics,
        *,
        max_subscribers: int,
        max_lag: int,
    ) -> None:
        self._store = store
        self._tokens = tokens
        self._metrics = metrics
        self.max_subscribers = max_subscribers
        self.max_lag = max_lag
        self._subscribers: set[Subscriber] = set()
        self._tail: list[_TailEvent] = []
        self._tail_start = 0
        """Position just before the first event of the tail (the tail covers (start, end])."""
        self._tail_end = 0
        self._heard = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._heads_heard = 0
        """The highest head the store has announced (this process's commits, or NOTIFY)."""
        self._tokens_version = -1

    @property
    def tail_start(self) -> int:
        return self._tail_start

    @property
    def tail_end(self) -> int:
        return self._tail_end

    async def start(self) -> None:
        head = await self._store.head()
        self._tail_start = self._tail_end = head
        self._store.add_listener(self._on_commit)
        self._task = asyncio.create_task(self._run(), name="live-hub")

    async def close(self) -> None:
        """End every subscription (their streams finish), then stop following the log."""
        self._closing = True
        for subscriber in list(self._subscribers):
            subscriber.end("shutdown")
        await stop_task(self._task, self._heard)
        self._task = None

    # -- subscribers --------------------------------------------------------------------

    def join(
        self,
        position: int,
        token_id: str | None,
        *,
        wants: LogFilter = EVERYTHING,
        follows_log: bool = True,
    ) -> Subscriber:
        """A new subscriber after `position`; TooManySubscribers past the limit."""
        if self._closing or len(self._subscribers) >= self.max_subscribers:
            raise TooManySubscribers
        subscriber = Subscriber(position, token_id, wants=wants, follows_log=follows_log)
        self._subscribers.add(subscriber)
        self._metrics.subscribers.set(len(self._subscribers))
        return subscriber

    def leave(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        self._metrics.subscribers.set(len(self._subscribers))

    def wake_watchers(self) -> None:
        """Wake the subscribers of projection changes (new changes were computed)."""
        for subscriber in self._subscribers:
            if not subscriber.follows_log:
                subscriber.wake.set()

    def still_allowed(self, subscriber: Subscriber) -> bool:
        return subscriber.token_id is None or self._tokens.is_active(subscriber.token_id)

    async def follow(self, subscriber: Subscriber) -> AsyncIterator[bytes]:
        """The subscriber's stream: `recorded` messages a page at a time, from the tail or,
        behind it, from the database; then, if it overflowed, the `overflow` message. Ends
        when the subscriber is ended. Its position moves once a page has been taken (the
        consumer asks for the next one only after sending the last)."""
        wants = subscriber.wants
        while True:
            if subscriber.ending is not None:
                if subscriber.ending == "overflow":
                    yield ServerSentEvent(
                        _encode({"position": subscriber.position}).decode(), event="overflow"
                    ).encode()
                return
            subscriber.wake.clear()
            after = subscriber.position
            taken = self._from_tail(after, wants)
            if taken is None and after < self._tail_start:
                taken = await self._from_database(after, wants, until=self._tail_start)
            if taken is None or taken[1] == after:
                subscriber.reached_tail = subscriber.waiting = True
                try:
                    await subscriber.wake.wait()
                finally:
                    subscriber.waiting = False
                continue
            messages, reached = taken
            if messages:
                yield b"".join(messages)
                self._metrics.live_messages.inc(len(messages))
            subscriber.position = reached

    def _from_tail(self, after: int, wants: LogFilter) -> tuple[list[bytes], int] | None:
        """Messages of the tail after `after` (a page of events looked at) and the position
        reached, or None if `after` is not within the tail."""
        if after < self._tail_start or after > self._tail_end:
            return None
        first = after - self._tail_start
        events = self._tail[first : first + PAGE_EVENTS]
        if not events:
            return [], after
        every = wants == EVERYTHING
        messages = [e.message for e in events if every or wants.keep(e.stream_id, e.type)]
        return messages, events[-1].position

    async def _from_database(
        self, after: int, wants: LogFilter, *, until: int
    ) -> tuple[list[bytes], int]:
        page = await self._store.read_all(
            after=after,
            limit=PAGE_EVENTS,
            types=sorted(wants.types) or None,
            category=wants.category,
            stream=wants.stream,
            until=until,
        )
        reached = page[-1].position if len(page) == PAGE_EVENTS else until
        return [recorded_message(e) for e in page], reached

    # -- following the log ----------------------------------------------------------------

    def _on_commit(self, head: int) -> None:
        self._heads_heard = max(self._heads_heard, head)
        self._heard.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_read = loop.time()
        while not self._closing:
            heard = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_TOKEN_CHECK_SECONDS):
                    await self._heard.wait()
                    heard = True
            self._heard.clear()
            if self._closing:
                return
            self._check_tokens()
            if not self._subscribers:
                # Nobody to serve: follow the head as notifications tell it, reading nothing.
                self._tail.clear()
                self._tail_start = self._tail_end = max(self._tail_end, self._heads_heard)
                continue
            if heard or loop.time() - last_read >= _POLL_SECONDS:
                last_read = loop.time()
                try:
                    await self._extend_tail()
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # keep serving; the next wake-up reads again
                    log.warning("live: could not read the log (%s)", type(error).__name__)

    def _check_tokens(self) -> None:
        if self._tokens.version == self._tokens_version:
            return
        self._tokens_version = self._tokens.version
        for subscriber in list(self._subscribers):
            if not self.still_allowed(subscriber):
                subscriber.end("revoked")

    async def _extend_tail(self) -> None:
        previous = self._tail_end
        kinds: set[tuple[str, str]] = set()
        rewritten = False
        while True:
            page = await self._store.read_all(after=self._tail_end, limit=PAGE_EVENTS)
            contiguous = _contiguous(page, self._tail_end)
            kinds.update((e.stream_id, e.type) for e in contiguous)
            rewritten = rewritten or any(
                e.type in REWRITING_TYPES and rewrites(e.type, bytes(e.data)) for e in contiguous
            )
            self._tail.extend(
                _TailEvent(e.position, e.stream_id, e.type, recorded_message(e)) for e in contiguous
            )
            if contiguous:
                self._tail_end = contiguous[-1].position
            if len(contiguous) < PAGE_EVENTS:
                break
        if rewritten:
            # An erasure rewrote earlier rows the tail holds encoded: let subscribers read
            # them again from the database.
            self._tail.clear()
            self._tail_start = self._tail_end
        if len(self._tail) > TAIL_EVENTS:
            drop = len(self._tail) - TAIL_EVENTS
            del self._tail[:drop]
            self._tail_start += drop
        if self._tail_end == previous:
            return
        for subscriber in list(self._subscribers):
            if not subscriber.follows_log:
                continue
            if (
                subscriber.waiting
                and subscriber.position == previous
                and not any(subscriber.wants.keep(*kind) for kind in kinds)
            ):
                # Nothing for it: move it on here rather than wake it to find that out.
                subscriber.position = self._tail_end
                continue
            # Measured against the head before this read: a client that keeps reading has
            # had a whole notification's time to take what was there.
            lagging = previous - subscriber.position > self.max_lag
            if subscriber.reached_tail and lagging and subscriber.ending is None:
                subscriber.end("overflow")
                self._metrics.live_overflows.inc()
            else:
                subscriber.wake.set()


async def stop_task(task: asyncio.Task[None] | None, wake: asyncio.Event) -> None:
    """Let `task` finish the read it may be in (it checks its stop flag once woken), briefly;
    cancel it past that."""
    if task is None:
        return
    wake.set()
    done, _ = await asyncio.wait({task}, timeout=_STOP_GRACE_SECONDS)
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _contiguous(page: list[RecordedEvent], after: int) -> list[RecordedEvent]:
    """The events of `page` that follow `after` without a hole (a hole: stop before it)."""
    for index, event in enumerate(page):
        if event.position != after + index + 1:
            return page[:index]
    return page
