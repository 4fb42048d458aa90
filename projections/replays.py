"""Replays of the whole log for as-of list reads: a few at a time, and the latest kept.

A list read in the past folds every event up to its cut, so it costs in proportion to the log,
and any reader may ask for it. At most `limit` replays run at once in a process; a read that
cannot get a turn within `wait` seconds is refused (`ReplaysBusy`, a 503 with Retry-After)
rather than queue without end. The state at a resolved cut (a position, and maybe a business
date) changes only when an erasure rewrites earlier rows, so the last few are kept and shared
by every read of the same cut, and all are forgotten after an erasure (`forget`; a replay
running across one is not kept).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable

from projections.as_of import Picture


class ReplaysBusy(Exception):
    """Every replay slot stayed taken for as long as a read may wait."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__("too many replays of the log at once; retry later")


class Replays:
    def __init__(self, *, limit: int = 2, wait: float = 10.0, keep: int = 4) -> None:
        self._turns = asyncio.Semaphore(limit)
        self._wait = wait
        self._keep = keep
        self._kept: OrderedDict[Hashable, Picture] = OrderedDict()
        self._generation = 0
        self.replayed = 0
        """Replays run (not answered from those kept): what a test can count."""

    async def picture(self, key: Hashable, replay: Callable[[], Awaitable[Picture]]) -> Picture:
        """The picture for `key`: kept, or replayed when a turn comes (and then kept)."""
        kept = self._held(key)
        if kept is not None:
            return kept
        try:
            async with asyncio.timeout(self._wait):
                await self._turns.acquire()
        except TimeoutError:
            raise ReplaysBusy(retry_after=max(1, round(self._wait))) from None
        try:
            kept = self._held(key)  # replayed by another read while this one waited
            if kept is not None:
                return kept
            generation = self._generation
            picture = await replay()
            self.replayed += 1
        finally:
            self._turns.release()
        if self._keep > 0 and generation == self._generation:
            self._kept[key] = picture
            while len(self._kept) > self._keep:
                self._kept.popitem(last=False)
        return picture

    def forget(self) -> None:
        """Drop every picture kept (an erasure rewrote rows they were folded from)."""
        self._generation += 1
        self._kept.clear()

    def _held(self, key: Hashable) -> Picture | None:
        picture = self._kept.get(key)
        if picture is not None:
            self._kept.move_to_end(key)
        return picture
