"""Full projection rebuild next to a raw scan and typed decode of the same log.

Each pass runs in a child process (`benchmarks.rebuild_child`) whose own peak RSS is its
memory figure; the interpreter and imports are included in both, so compare the two peaks.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from benchmarks.context import Context, child_report
from benchmarks.log import big_log, first_report
from benchmarks.results import Check, Row, skipped


class _Pass(msgspec.Struct, frozen=True):
    seconds: float
    events: int
    peak_mb: float


async def figures(ctx: Context) -> list[Row]:
    checks = [Check("≥ 0.3x baseline", "ratio", 0.3)]
    if ctx.scale.log_events >= 1_000_000:
        checks.append(Check("peak < 300 MB", "peak_mb", 300.0, at_most=True))
    row = Row(
        key="rebuild_projections",
        title="full projection rebuild, SQLite",
        unit="events/s",
        baseline="raw sqlite3 scan + msgspec typed decode",
        checks=checks,
    )
    try:
        import projections.rebuild  # noqa: F401
    except ImportError as error:
        return [
            skipped(row.key, row.title, row.unit, f"projections.rebuild missing ({error})", checks)
        ]
    log = await big_log(ctx)
    runs = min(ctx.runs, ctx.scale.heavy_runs)
    row.notes.append(
        f"log of {log.events:,} events in {log.streams:,} partnerships; "
        f"each pass in its own process; {runs} runs"
    )
    ctx.say(f"{row.title} of {log.events:,} events x {runs} runs")
    for _ in range(runs):
        base = await _child("scan", log.path)
        real = await _child("rebuild", log.path)
        row.baseline_samples.append(base.events / base.seconds)
        row.samples.append(real.events / real.seconds)
        row.add_extra("peak_mb", real.peak_mb)
        row.add_extra("baseline_peak_mb", base.peak_mb)
        row.add_extra("seconds", real.seconds)
    return [*first_report(ctx, log), row]


async def _child(mode: str, path: Path) -> _Pass:
    return msgspec.json.decode(
        await child_report("benchmarks.rebuild_child", mode, path), type=_Pass
    )
