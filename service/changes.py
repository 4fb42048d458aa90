"""What the projections changed between two positions, named by id, for `GET /live`.

A change is computed from the log, not from the read models: the streams written in
(`start`, `position`] name the partnerships and delegations that changed (an agreement recorded
under a delegation changes that delegation too), and the owners named anywhere in a changed
agreement's stream are the owners whose summaries may list it (a former owner included, which
a dashboard re-reading once too often never minds). Past `MAX_EVENTS` events or
`MAX_AGREEMENTS` agreements, one "everything may have changed" answer is cheaper than a list
nobody would read item by item.

The feed computes each advance of the projection runner once, keeps the last few, and answers
a subscriber that is further behind by merging them or, on resume from an older position,
by computing afresh.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from events.catalogue import Owner, owner_id
from events.log_reads import log_rows, stream_rows
from events.personal import log_secret
from service.subscriptions import stop_task

log = logging.getLogger(__name__)

MAX_EVENTS = 20_000
MAX_AGREEMENTS = 500
_KEPT = 256
_OWNER_FIELDS = ("owner", "from_owner", "to_owner")


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """The data of one `changed` message."""

    position: int
    """The position the projections reached (also the message's `id:`)."""
    partnerships: list[str]
    owners: list[str]
    delegations: list[str]
    everything: bool = False
    """True: too much changed to list (the lists are empty); re-read everything."""


class _Span(msgspec.Struct, frozen=True):
    start: int
    change: Change


async def compute(engine: AsyncEngine, start: int, position: int) -> Change:
    """What changed in (`start`, `position`]."""
    if position - start > MAX_EVENTS:
        return _everything(position)
    rows = await log_rows(engine, after=start, until=position, limit=MAX_EVENTS)
    agreements: set[str] = set()
    delegations: set[str] = set()
    for row in rows:
        stream_id = row[1]
        if stream_id.startswith("agreement-"):
            agreements.add(stream_id)
        elif stream_id.startswith("delegation-"):
            delegations.add(stream_id)
    if len(agreements) > MAX_AGREEMENTS:
        return _everything(position)
    owners: set[str] = set()
    secret = await log_secret(engine)
    for agreement in agreements:
        for row in await stream_rows(engine, agreement, until=position):
            data = _decode(row[5])
            owners.update(_owners(data, secret))
            under = data.get("delegation_id")
            if isinstance(under, str):
                delegations.add(under)
    return Change(
        position=position,
        partnerships=sorted(agreements),
        owners=sorted(owners),
        delegations=sorted(delegations),
    )


def merge(changes: Iterable[Change]) -> Change:
    """One change covering several consecutive ones."""
    items = list(changes)
    last = items[-1]
    if any(c.everything for c in items):
        return _everything(last.position)
    return Change(
        position=last.position,
        partnerships=sorted({i for c in items for i in c.partnerships}),
        owners=sorted({i for c in items for i in c.owners}),
        delegations=sorted({i for c in items for i in c.delegations}),
    )


def _everything(position: int) -> Change:
    return Change(position=position, partnerships=[], owners=[], delegations=[], everything=True)


def _decode(data: Any) -> dict[str, Any]:
    with contextlib.suppress(msgspec.DecodeError, TypeError):
        decoded = msgspec.json.decode(data)
        if isinstance(decoded, dict):
            return decoded
    return {}


def _owners(data: dict[str, Any], secret: bytes) -> Iterable[str]:
    for field in _OWNER_FIELDS:
        value = data.get(field)
        if isinstance(value, dict):
            with contextlib.suppress(msgspec.ValidationError):
                yield owner_id(msgspec.convert(value, Owner), secret)


class ChangeFeed:
    """Follows the projection runner's position; `position` is the last one computed."""

    def __init__(self, engine: AsyncEngine, applied: Callable[[], int], wake: Callable[[], None]):
        self._engine = engine
        self._applied = applied
        self._wake = wake
        self._spans: collections.deque[_Span] = collections.deque(maxlen=_KEPT)
        self.position = 0
        self.watchers = 0
        """Open `/live` subscriptions; with none, advances are followed, not computed."""
        self._heard = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self.position = self._applied()
        self._task = asyncio.create_task(self._run(), name="live-changes")

    async def stop(self) -> None:
        self._stopping = True
        await stop_task(self._task, self._heard)
        self._task = None

    @property
    def applied(self) -> int:
        """The position the projections have reached (this feed may not have computed it yet)."""
        return self._applied()

    def on_applied(self, _position: int) -> None:
        self._heard.set()

    async def since(self, after: int) -> Change:
        """What changed in (`after`, `position`]."""
        spans = [s for s in self._spans if s.start >= after]
        if spans and spans[0].start == after:
            return merge(s.change for s in spans)
        return await compute(self._engine, after, self.position)

    async def _run(self) -> None:
        while not self._stopping:
            await self._heard.wait()
            self._heard.clear()
            if self._stopping:
                return
            target = self._applied()
            if target <= self.position:
                continue
            if self.watchers == 0:
                self._spans.clear()
                self.position = target
                continue
            try:
                change = await compute(self._engine, self.position, target)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # try again at the next advance
                log.warning("live: could not compute changes (%s)", type(error).__name__)
                await asyncio.sleep(0.5)
                self._heard.set()
                continue
            self._spans.append(_Span(self.position, change))
            self.position = target
            self._wake()
