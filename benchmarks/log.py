"""The big log the rebuild, verification, as-of, proofs and scale figures share, and the small
log (a tenth of its size) the proofs and scale figures compare it with, each built once a run.

It is built through the store itself (so it is valid by construction: rules, hashes, stream
keys): 20 concurrent clients append 50-event histories, one partnership each, and the
group-commit writer shares their commits. The time it takes is reported as a figure too.
At the end, one partnership with 1,000 events is appended (the as-of figure reads it).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import baselines, data
from benchmarks.context import Context
from benchmarks.results import Row
from events.store import open_store

STREAM_EVENTS = 50
CLIENTS = 20
AS_OF_STREAM = data.stream_id("asof", 0)
AS_OF_EVENTS = 1000


@dataclass(frozen=True, slots=True)
class Log:
    path: Path
    events: int
    streams: int
    build: Row

    @property
    def url(self) -> str:
        return baselines.sqlite_url(self.path)


async def big_log(ctx: Context) -> Log:
    cached = ctx.shared.get("log")
    if isinstance(cached, Log):
        return cached
    path = ctx.path("log.db")
    streams = max(1, ctx.scale.log_events // STREAM_EVENTS)
    events = streams * STREAM_EVENTS
    ctx.say(f"building a log of {events:,} events in {streams:,} partnerships")
    store = await open_store(baselines.sqlite_url(path))
    try:
        numbers = iter(range(streams))

        async def client() -> None:
            for number in numbers:  # shared: each client takes the next partnership
                history = data.proposed(number, 1, STREAM_EVENTS)
                await store.append(data.stream_id("log", number), history, metadata=data.METADATA)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        seconds = time.perf_counter() - started
        await store.append(
            AS_OF_STREAM, data.proposed(streams, 1, AS_OF_EVENTS), metadata=data.METADATA
        )
    finally:
        await store.close()
    build = Row(
        key="log_build_sqlite",
        title="building the log: 20 clients x 50-event appends, SQLite",
        unit="events/s",
        samples=[events / seconds],
        notes=[f"{events:,} events, one run, event generation included"],
    )
    log = Log(path=path, events=events + AS_OF_EVENTS, streams=streams + 1, build=build)
    ctx.shared["log"] = log
    ctx.say(f"built in {seconds:.1f} s")
    return log


async def small_log(ctx: Context) -> Path:
    """A log a tenth the size of the big one, built the way it is (20 clients appending
    50-event histories), without the as-of stream."""
    cached = ctx.shared.get("small_log")
    if isinstance(cached, Path):
        return cached
    events = max(STREAM_EVENTS, (ctx.scale.log_events + AS_OF_EVENTS) // 10)
    path = ctx.path("small-log.db")
    streams = max(1, events // STREAM_EVENTS)
    ctx.say(f"building a log of {streams * STREAM_EVENTS:,} events")
    store = await open_store(baselines.sqlite_url(path))
    try:
        numbers = iter(range(streams))

        async def client() -> None:
            for number in numbers:
                history = data.proposed(number, 1, STREAM_EVENTS)
                await store.append(data.stream_id("small", number), history, metadata=data.METADATA)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        ctx.say(f"built in {time.perf_counter() - started:.1f} s")
    finally:
        await store.close()
    ctx.shared["small_log"] = path
    return path


def first_report(ctx: Context, log: Log) -> list[Row]:
    """The build figure, for the first family that reports after building the log."""
    if ctx.shared.get("log_reported"):
        return []
    ctx.shared["log_reported"] = True
    return [log.build]
