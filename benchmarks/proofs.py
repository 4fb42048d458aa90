"""Audit answers at scale (issue 17): a checkpoint after a restart, an inclusion proof and a
consistency proof, and the process's resident memory after them, on the big log and on a log a
tenth of its size (1,000,000 and 100,000 events in a full run).

Each figure's value is the big log's, its baseline the small log's: the Merkle tree is read
from the database, O(log n) hashes an answer, so the ratio should stay near 1 (target: at most
1.5). Every measured pass is a fresh process (`benchmarks.proofs_child`), as after a restart;
before them one process makes the first checkpoint, which verifies the whole log once. The
checkpoint figure is the median of several in a pass, each on a store opened afresh (see
`benchmarks.proofs_child`).
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from benchmarks.context import Context, child_report
from benchmarks.log import big_log, first_report, small_log
from benchmarks.results import Check, Row

FIGURES = (
    ("proofs_checkpoint", "checkpoint after a restart", "ms", "checkpoint_ms"),
    ("proofs_inclusion", "inclusion proof (with leaf and root)", "ms", "inclusion_ms"),
    ("proofs_consistency", "consistency proof (with both roots)", "ms", "consistency_ms"),
    ("proofs_rss", "resident memory after the answers", "MB", "rss_mb"),
)


class _Pass(msgspec.Struct, frozen=True):
    events: int
    checkpoint_ms: float
    inclusion_ms: float
    consistency_ms: float
    rss_mb: float
    start_rss_mb: float
    hashes_read: int
    first_checkpoint_ms: float
    checkpoint_statements: int


async def figures(ctx: Context) -> list[Row]:
    big = await big_log(ctx)
    small_path = await small_log(ctx)
    checks = [Check("≤ 1.5x the small log", "ratio", 1.5, at_most=True)]
    rows = {
        key: Row(
            key=key,
            title=title,
            unit=unit,
            baseline="the same on a log a tenth the size",
            checks=checks if ctx.scale.log_events >= 1_000_000 else [],
        )
        for key, title, unit, _ in FIGURES
    }
    for path in (small_path, big.path):
        primed = await _child("prime", path)
        ctx.say(f"first checkpoint of {primed['events']:,} events: {primed['seconds']:.1f} s")
    # Small and big alternate, so that a machine's drifting load weighs on both alike.
    for _ in range(ctx.runs):
        for path, is_big in ((small_path, False), (big.path, True)):
            measured = msgspec.convert(await _child("measure", path), _Pass)
            for key, _, _, field in FIGURES:
                value = float(getattr(measured, field))
                row = rows[key]
                (row.samples if is_big else row.baseline_samples).append(value)
            if is_big:
                rows["proofs_rss"].add_extra("start_rss_mb", measured.start_rss_mb)
            # The work a checkpoint does, on each log: O(log n) hashes, the same statements.
            checkpoint = rows["proofs_checkpoint"]
            log = "big" if is_big else "small"
            checkpoint.add_extra(f"{log}_hashes_read", measured.hashes_read)
            checkpoint.add_extra(f"{log}_statements", measured.checkpoint_statements)
            checkpoint.add_extra(f"{log}_first_ms", measured.first_checkpoint_ms)
    for row in rows.values():
        row.notes.append(f"{big.events:,} events vs a tenth; each run a fresh process")
    return [*first_report(ctx, big), *rows.values()]


async def _child(mode: str, path: Path) -> dict[str, float]:
    result: dict[str, float] = msgspec.json.decode(
        await child_report("benchmarks.proofs_child", mode, path)
    )
    return result
