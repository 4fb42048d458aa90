"""Appends through the store, next to the same rows written with the bare driver.

Every run appends to a fresh database (SQLite file or scratch PostgreSQL database). Events
are prepared before the clock starts, as a client would hold them; validation, the rules,
encoding, hashing and the commit are inside the measurement.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from benchmarks import baselines, data
from benchmarks.context import Context
from benchmarks.postgres import scratch_database, unreachable
from benchmarks.results import Check, Row, skipped
from events.envelope import Proposed
from events.store import open_store

Append = tuple[str, list[Proposed]]
Lane = list[Append]
"""One client: its appends, made one after another. Lanes run concurrently."""

BATCH = 1000
CLIENTS = 32
GROUP_STREAMS, GROUP_EVENTS = 50, 20


def batch_lanes(batches: int) -> list[Lane]:
    """One client appending 1,000-event batches, each to its own stream (at most 50 streams;
    beyond 50 batches the streams are reused): every transaction's rows belong to one stream."""
    lane: Lane = []
    versions: dict[int, int] = {}
    for number in range(batches):
        stream = number % 50
        first = versions.get(stream, 0) + 1
        versions[stream] = first + BATCH - 1
        lane.append((data.stream_id("batch", stream), data.proposed(stream, first, BATCH)))
    return [lane]


def group_lanes(rounds: int) -> list[Lane]:
    """50 clients, each appending 20-event batches to its own stream: the writer takes the
    waiting appends into one transaction, about 1,000 events of 50 streams per commit."""
    return [
        [
            (data.stream_id("group", s), data.proposed(s, 1 + r * GROUP_EVENTS, GROUP_EVENTS))
            for r in range(rounds)
        ]
        for s in range(GROUP_STREAMS)
    ]


def single_lanes(total: int, clients: int = CLIENTS) -> list[Lane]:
    """`clients` clients, each appending single events to its own stream."""
    per_client = max(1, total // clients)
    return [
        [(data.stream_id("single", c), [event]) for event in data.proposed(c, 1, per_client)]
        for c in range(clients)
    ]


async def run_lanes(url: str, lanes: list[Lane]) -> float:
    """Seconds for all lanes' appends through a store opened (and migrated) beforehand."""
    store = await open_store(url)
    try:

        async def client(lane: Lane) -> None:
            for stream_id, events in lane:
                await store.append(stream_id, events, metadata=data.METADATA)

        started = time.perf_counter()
        await asyncio.gather(*(client(lane) for lane in lanes))
        return time.perf_counter() - started
    finally:
        await store.close()


def _count(lanes: list[Lane]) -> int:
    return sum(len(events) for lane in lanes for _, events in lane)


def _commits(rows: baselines.Rows) -> int:
    """Transactions the store used: every commit stamps its rows with one `recorded_at`."""
    return len({row[10] for row in rows})


async def _warm_up(ctx: Context) -> None:
    """Compile the statements and import everything once, outside any measurement."""
    await run_lanes(baselines.sqlite_url(ctx.path("warmup.db")), batch_lanes(1))


async def sqlite_figures(ctx: Context) -> list[Row]:
    await _warm_up(ctx)
    scale = ctx.scale
    rows = [
        await _sqlite_pair(
            ctx,
            Row(
                key="store_batch_sqlite",
                title="1,000-event batch appends, SQLite",
                unit="events/s",
                baseline="raw sqlite3 executemany, same rows, 1,000/commit",
                checks=[Check("≥ 0.7x baseline", "ratio", 0.7)],
                notes=[f"{scale.batches} batches of 1,000 events, one stream each (grouped)"],
            ),
            batch_lanes(scale.batches),
            lambda path, rows: baselines.sqlite_executemany(path, rows, BATCH),
        ),
        await _sqlite_pair(
            ctx,
            Row(
                key="store_group_sqlite",
                title="50 concurrent 20-event appends, SQLite",
                unit="events/s",
                baseline="raw sqlite3 executemany, same rows, 1,000/commit",
                notes=["50 streams; rows grouped by stream within each shared commit"],
            ),
            group_lanes(scale.batches),
            lambda path, rows: baselines.sqlite_executemany(path, rows, BATCH),
        ),
        await _sqlite_pair(
            ctx,
            Row(
                key="store_single32_sqlite",
                title="single-event appends, 32 clients, SQLite",
                unit="events/s",
                baseline="raw sqlite3, 1 row per durable commit, 1 client",
                notes=["32 asyncio tasks, one stream each, synchronous=FULL"],
            ),
            single_lanes(scale.concurrent_events),
            baselines.sqlite_row_transactions,
        ),
    ]
    return rows


async def _sqlite_pair(
    ctx: Context,
    row: Row,
    lanes: list[Lane],
    baseline: Callable[[Path, baselines.Rows], float],
) -> Row:
    events = _count(lanes)
    ctx.say(f"{row.title}: {events} events x {ctx.runs} runs")
    stored: baselines.Rows | None = None
    for _ in range(ctx.runs):
        path = ctx.path(f"{row.key}.db")
        seconds = await run_lanes(baselines.sqlite_url(path), lanes)
        row.samples.append(events / seconds)
        if stored is None:
            stored = baselines.read_rows(path)
        row.add_extra("events_per_commit", events / _commits(baselines.read_rows(path)))
        scratch = ctx.path(f"{row.key}-raw.db")
        await baselines.migrated(baselines.sqlite_url(scratch))
        row.baseline_samples.append(len(stored) / baseline(scratch, stored))
    return row


async def postgres_figures(ctx: Context) -> list[Row]:
    single = Row(
        key="store_single32_pg",
        title="single-event appends, 32 clients, PostgreSQL",
        unit="events/s",
        baseline="raw asyncpg, 32 connections, 1 row/commit, no lock",
        notes=["32 asyncio tasks, one stream each"],
    )
    batch = Row(
        key="store_batch_pg",
        title="1,000-event batch appends, PostgreSQL",
        unit="events/s",
        baseline="raw asyncpg executemany, same rows, 1,000/commit",
        notes=["one stream per batch (grouped)"],
    )
    problem = await unreachable(ctx.postgres_dsn)
    if problem is not None:
        return [
            skipped(r.key, r.title, r.unit, f"{problem}; set AGREEMENTS_BENCH_POSTGRES")
            for r in (single, batch)
        ]
    scale = ctx.scale
    await _pg_pair(
        ctx,
        single,
        single_lanes(scale.concurrent_events),
        lambda dsn, rows: baselines.pg_row_transactions(dsn, rows, CLIENTS),
    )
    await _pg_pair(
        ctx,
        batch,
        batch_lanes(max(2, scale.batches // 2)),
        lambda dsn, rows: baselines.pg_executemany(dsn, rows, BATCH),
    )
    return [single, batch]


async def _pg_pair(
    ctx: Context,
    row: Row,
    lanes: list[Lane],
    baseline: Callable[[str, baselines.Rows], Awaitable[float]],
) -> None:
    events = _count(lanes)
    ctx.say(f"{row.title}: {events} events x {ctx.runs} runs")
    stored: baselines.Rows | None = None
    for _ in range(ctx.runs):
        async with scratch_database(ctx.postgres_dsn) as db:
            seconds = await run_lanes(db.url, lanes)
            written = await baselines.pg_read_rows(db.dsn)
        row.samples.append(events / seconds)
        row.add_extra("events_per_commit", events / _commits(written))
        stored = stored or written
        async with scratch_database(ctx.postgres_dsn) as db:
            await baselines.migrated(db.url)
            row.baseline_samples.append(len(stored) / await baseline(db.dsn, stored))
