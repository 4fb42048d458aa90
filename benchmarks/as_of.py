"""As-of state of one partnership with 1,000 events, in the big log: at most 5 ms.

Uses `projections.as_of.partnership_at` (what `?as_of_position=` serves): read the stream up
to the cut and fold it through the live projections' own pipeline. Two cuts: the head (all
1,000 events) and the middle of the stream.
"""

from __future__ import annotations

import statistics
import time

from benchmarks.context import Context
from benchmarks.log import AS_OF_EVENTS, AS_OF_STREAM, big_log, first_report
from benchmarks.results import Check, Row
from events.store import EventStore, open_store
from projections.as_of import Cut, partnership_at


async def figures(ctx: Context) -> list[Row]:
    log = await big_log(ctx)
    row = Row(
        key="as_of_partnership",
        title=f"as-of state of one partnership with {AS_OF_EVENTS:,} events",
        unit="ms",
        checks=[Check("≤ 5 ms", "median", 5.0, at_most=True)],
        notes=[
            f"log of {log.events:,} events; cut at the head; median of "
            f"{ctx.scale.as_of_repeats} calls per run"
        ],
    )
    ctx.say(f"{row.title} x {ctx.runs} runs")
    store = await open_store(log.url)
    try:
        last = await store.read_stream(AS_OF_STREAM, after_version=AS_OF_EVENTS - 1)
        middle = await store.read_stream(AS_OF_STREAM, after_version=AS_OF_EVENTS // 2 - 1, limit=1)
        head_cut, middle_cut = Cut(position=last[0].position), Cut(position=middle[0].position)
        await partnership_at(store, AS_OF_STREAM, head_cut)  # warm up
        for _ in range(ctx.runs):
            row.samples.append(await _latency(store, head_cut, ctx.scale.as_of_repeats))
            row.add_extra("middle_ms", await _latency(store, middle_cut, ctx.scale.as_of_repeats))
    finally:
        await store.close()
    return [*first_report(ctx, log), row]


async def _latency(store: EventStore, cut: Cut, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        view = await partnership_at(store, AS_OF_STREAM, cut)
        times.append((time.perf_counter() - started) * 1000)
        assert view is not None
    return statistics.median(times)
