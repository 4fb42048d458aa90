"""One restarted process asking for audit answers: `python -m benchmarks.proofs_child DB`.

Opens the store as a server would after a restart, then times a checkpoint (refresh and sign),
inclusion proofs and consistency proofs at the head, and reads its resident memory after them.
Prints one JSON object (milliseconds, and MB).

The checkpoint after a restart is timed `RESTARTS` times: the process's first one, then each
on a store opened afresh (a new engine, so a new SQLite connection with a cold page cache and
SQLAlchemy's compiled statements gone, and a new `StoredLogTree` that knows nothing), and the
figure is their median. One sample a process was noise under load: on a shared 2-vCPU machine
at a load average of 8 to 11 the 1M/100k ratio came out 2.2x in one run and 6.5x in the next
(samples 10-169 ms against 8-101 ms), for work that reads 9 stored hashes at 1M and 6 at 100k.
The first one is reported apart (`first_checkpoint_ms`), and so are the statements the
checkpoint runs (`checkpoint_statements`: the same at every size).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import uvloop
from sqlalchemy import event
from sqlalchemy.engine import Engine

from benchmarks import baselines

PROOFS = 50
RESTARTS = 11
"""Checkpoints after a restart timed a process (the first, then on stores opened afresh)."""


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _measure(path: Path) -> dict[str, float]:
    from events.signed_checkpoints import generate_key
    from events.store import open_store
    from events.tree_audit import StoredLogTree

    key = generate_key()
    url = baselines.sqlite_url(path)
    checkpoints: list[float] = []
    statements = 0
    for _ in range(RESTARTS - 1):
        store = await open_store(url)
        try:
            counted = _count_statements(store.engine.sync_engine)
            started = time.perf_counter()
            tree = StoredLogTree(store)
            await tree.refresh()
            await tree.checkpoint(key)
            checkpoints.append((time.perf_counter() - started) * 1000)
            statements = counted()
        finally:
            await store.close()
    store = await open_store(url)
    try:
        started_mb = resident_mb()
        tree = StoredLogTree(store)
        started = time.perf_counter()
        size = await tree.refresh()
        await tree.checkpoint(key)
        checkpoints.append((time.perf_counter() - started) * 1000)
        checkpoint_hashes = tree.hashes_read
        chooser = random.Random(size)
        inclusion, consistency = [], []
        for _ in range(PROOFS):
            position = chooser.randint(1, size)
            started = time.perf_counter()
            await tree.inclusion(position, size)
            await tree.leaf(position)
            await tree.root(size)
            inclusion.append((time.perf_counter() - started) * 1000)
            m = chooser.randint(1, size)
            started = time.perf_counter()
            await tree.consistency(m, size)
            await tree.root(m)
            await tree.root(size)
            consistency.append((time.perf_counter() - started) * 1000)
        return {
            "events": size,
            "checkpoint_ms": statistics.median(checkpoints),
            "first_checkpoint_ms": checkpoints[0],
            "checkpoint_statements": statements,
            "inclusion_ms": statistics.median(inclusion),
            "consistency_ms": statistics.median(consistency),
            "rss_mb": resident_mb(),
            "start_rss_mb": started_mb,
            "hashes_read": checkpoint_hashes,
        }
    finally:
        await store.close()


def _count_statements(engine: Engine) -> Callable[[], int]:
    """Count the SQL statements `engine` runs from now on; the returned function stops
    counting and gives the number."""
    count = 0

    def counted(*_: Any) -> None:
        nonlocal count
        count += 1

    event.listen(engine, "before_cursor_execute", counted)

    def stop() -> int:
        event.remove(engine, "before_cursor_execute", counted)
        return count

    return stop


async def _prime(path: Path) -> dict[str, float]:
    """The first checkpoint after the log was built: it verifies every event once."""
    from events.store import open_store
    from events.tree_audit import StoredLogTree

    store = await open_store(baselines.sqlite_url(path))
    try:
        started = time.perf_counter()
        size = await StoredLogTree(store).refresh()
        return {"events": size, "seconds": time.perf_counter() - started, "rss_mb": resident_mb()}
    finally:
        await store.close()


def main(argv: list[str]) -> None:
    mode, path = argv[0], Path(argv[1])
    if mode == "measure":
        result = uvloop.run(_measure(path))
    elif mode == "prime":
        result = uvloop.run(_prime(path))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    sys.stdout.write(msgspec.json.encode(result).decode() + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
