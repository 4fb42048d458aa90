"""One restarted process asking for audit answers: `python -m benchmarks.proofs_child DB`.

Opens the store as a server would after a restart, then times a checkpoint (refresh and sign),
inclusion proofs and consistency proofs at the head, and reads its resident memory after them.
Prints one JSON object (milliseconds, and MB).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

import msgspec
import uvloop

from benchmarks import baselines

PROOFS = 50


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
    store = await open_store(baselines.sqlite_url(path))
    try:
        started_mb = resident_mb()
        tree = StoredLogTree(store)
        started = time.perf_counter()
        size = await tree.refresh()
        await tree.checkpoint(key)
        checkpoint_ms = (time.perf_counter() - started) * 1000
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
            "checkpoint_ms": checkpoint_ms,
            "inclusion_ms": statistics.median(inclusion),
            "consistency_ms": statistics.median(consistency),
            "rss_mb": resident_mb(),
            "start_rss_mb": started_mb,
            "hashes_read": checkpoint_hashes,
        }
    finally:
        await store.close()


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
