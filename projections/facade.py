"""`Projections`: the one object the service holds for the read side.

It reads (everything of `ProjectionReader`), follows the log (a `ProjectionRunner` started
and stopped with the service's lifespan), waits for read-your-writes, and rebuilds. Reader
and runner share one `ReadCache`: the runner keeps it true, readers answer from it.
"""

from __future__ import annotations

from events.store import EventStore
from projections import rebuild as _rebuild
from projections.cache import ReadCache
from projections.reader import ProjectionReader
from projections.replays import Replays
from projections.runner import ProjectionRunner


class Projections(ProjectionReader):
    def __init__(
        self,
        store: EventStore,
        *,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        coalesce: float = 0.05,
        cache: ReadCache | None = None,
        replays: Replays | None = None,
    ) -> None:
        super().__init__(store, cache, replays)
        self.runner = ProjectionRunner(
            store,
            batch_size=batch_size,
            poll_interval=poll_interval,
            coalesce=coalesce,
            cache=self.cache,
        )
        self.runner.add_rewrite_listener(self.replays.forget)

    @property
    def position(self) -> int:
        """The last position this instance knows the projections reflect."""
        return self.runner.position

    async def start(self) -> None:
        """Create (or rebuild, on a schema change) the tables, then follow the log."""
        await self.runner.start()

    async def stop(self) -> None:
        await self.runner.stop()

    async def wait_for(self, position: int, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until the projections reflect `position` (read-your-writes), at most
        `timeout` seconds; False if they did not get there in time."""
        return await self.runner.wait_for(position, timeout)

    async def rebuild(self, progress: _rebuild.Progress | None = None) -> int:
        """Replay the whole log into fresh tables and swap them in; returns the position."""
        try:
            return await _rebuild.rebuild(self._store, progress=progress)
        finally:
            # The runner notices the moved checkpoint at its next batch; until then, answer
            # from the tables rather than vouch for what was held.
            self.cache.reset(None)
