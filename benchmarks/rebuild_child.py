"""One measured pass in a process of its own, so its peak memory is its own:
`python -m benchmarks.rebuild_child {rebuild|scan} DB`. Prints one JSON object:
seconds (the pass alone, not the start-up), events, and peak RSS in MB."""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import msgspec
import uvloop

from benchmarks import baselines


async def _rebuild(path: Path) -> tuple[float, int]:
    from events.store import open_store
    from projections.rebuild import rebuild
    from projections.setup import prepare_tables

    store = await open_store(baselines.sqlite_url(path))
    try:
        await prepare_tables(store.engine)
        started = time.perf_counter()
        position = await rebuild(store)
        return time.perf_counter() - started, position
    finally:
        await store.close()


def _peak_mb() -> float:
    """This process's own peak RSS. Linux keeps `ru_maxrss` across fork and exec, so there it
    starts at the parent's RSS (the benchmark's, after building a 1M-event log: about 400 MB,
    the same figure for both passes); `VmHWM` is the peak of this process's own memory."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> None:
    mode, path = argv[0], Path(argv[1])
    if mode == "rebuild":
        seconds, events = uvloop.run(_rebuild(path))
    elif mode == "scan":
        seconds, events = baselines.scan_and_decode(path)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    peak_mb = _peak_mb()
    sys.stdout.write(
        msgspec.json.encode({"seconds": seconds, "events": events, "peak_mb": peak_mb}).decode()
        + "\n"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
