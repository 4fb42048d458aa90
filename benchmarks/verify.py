"""Chain verification speed (issue 4): recompute the hash chain over the first events of the
big log, next to the same recomputation with bare sqlite3, msgspec and hashlib."""

from __future__ import annotations

import importlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from benchmarks import baselines
from benchmarks.context import Context
from benchmarks.log import big_log, first_report
from benchmarks.results import Row
from events.store import EventStore, open_store
from events.verification import ChainVerifier

BATCH = 5000


async def figures(ctx: Context) -> list[Row]:
    log = await big_log(ctx)
    count = min(ctx.scale.verify_events, log.events)
    row = Row(
        key="verify_chain_sqlite",
        title=f"chain verification, first {count:,} events",
        unit="events/s",
        baseline="bare sqlite3 + msgspec + hashlib, same rows",
    )
    verify, how = _verifier()
    row.notes.append(how)
    ctx.say(f"{row.title} x {ctx.runs} runs")
    store = await open_store(log.url)
    try:
        for _ in range(ctx.runs):
            started = time.perf_counter()
            checked = await verify(store, count)
            row.samples.append(checked / (time.perf_counter() - started))
            seconds, scanned = baselines.scan_and_hash(log.path, count)
            row.baseline_samples.append(scanned / seconds)
    finally:
        await store.close()
    return [*first_report(ctx, log), row]


Verify = Callable[[EventStore, int], Awaitable[int]]


def _verifier() -> tuple[Verify, str]:
    """`events.audit.verify_store` (what `agreements verify` runs) when it exists, else the
    same batched loop over `ChainVerifier` here."""
    try:
        audit = importlib.import_module("events.audit")
    except ImportError:
        return _verify_batches, "ChainVerifier over read_all batches of 5,000"
    verify_store = cast(Callable[..., Awaitable[Any]], audit.verify_store)

    async def verify(store: EventStore, count: int) -> int:
        report = await verify_store(store, until=count, batch_size=BATCH)
        assert report.ok, report.reason
        return int(report.checked)

    return verify, "events.audit.verify_store, batches of 5,000"


async def _verify_batches(store: EventStore, count: int) -> int:
    verifier = ChainVerifier()
    after = 0
    while after < count:
        batch = await store.read_all(after=after, limit=BATCH, until=count)
        if not batch:
            break
        verifier.feed(batch)
        after = batch[-1].position
    report = verifier.report(at_end=False)
    assert report.ok, report.reason
    return report.checked
