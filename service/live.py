"""Live updates of one process, as the app's lifespan holds them: the subscriber hub that
follows the log (`service.subscriptions`) and the feed of projection changes
(`service.changes`)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator

from events.store import EventStore
from projections.facade import Projections
from service.changes import ChangeFeed
from service.metrics import Metrics
from service.settings import Settings
from service.subscriptions import Hub
from service.tokens import TokenTable


@dataclasses.dataclass(frozen=True, slots=True)
class Live:
    hub: Hub
    changes: ChangeFeed | None
    """None when this process runs no projections."""


@contextlib.asynccontextmanager
async def running_live(
    store: EventStore,
    tokens: TokenTable,
    metrics: Metrics,
    settings: Settings,
    projections: Projections | None,
) -> AsyncIterator[Live]:
    hub = Hub(
        store,
        tokens,
        metrics,
        max_subscribers=settings.max_subscribers,
        max_lag=settings.live_max_lag,
    )
    await hub.start()
    changes = None
    if projections is not None:
        runner = projections.runner
        changes = ChangeFeed(store.engine, lambda: runner.position, hub.wake_watchers)
        runner.add_listener(changes.on_applied)
        changes.start()
    try:
        yield Live(hub, changes)
    finally:
        await hub.close()
        if changes is not None:
            await changes.stop()
