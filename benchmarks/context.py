"""How big a run is, where it keeps its data, and what the figures share."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
"""The project, for child processes' imports."""

ADMIN_DSN = os.environ.get(
    "AGREEMENTS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@dataclass(frozen=True, slots=True)
class Scale:
    batches: int
    """1,000-event batches a run of the batch figures appends (one stream each)."""
    concurrent_events: int
    """Single-event appends a run of the 32-client figures makes in all."""
    http_seconds: float
    log_events: int
    """Size of the log the rebuild figure replays."""
    verify_events: int
    as_of_repeats: int
    runs: int
    heavy_runs: int
    """Runs of the figures that replay the whole big log (a rebuild of 1M events is long)."""


FULL = Scale(
    batches=40,
    concurrent_events=6_400,
    http_seconds=5.0,
    log_events=1_000_000,
    verify_events=100_000,
    as_of_repeats=10,
    runs=5,
    heavy_runs=3,
)
QUICK = Scale(
    batches=3,
    concurrent_events=320,
    http_seconds=1.0,
    log_events=20_000,
    verify_events=20_000,
    as_of_repeats=5,
    runs=2,
    heavy_runs=2,
)


@dataclass(slots=True)
class Context:
    scale: Scale
    runs: int
    workdir: Path
    quick: bool
    postgres_dsn: str = ADMIN_DSN
    shared: dict[str, Any] = field(default_factory=dict)
    """Data built once and used by several figures (the big log)."""
    started: float = field(default_factory=time.perf_counter)

    def path(self, name: str) -> Path:
        """A fresh path in the work directory (the name is made unique)."""
        count = self.shared.setdefault("_paths", 0) + 1
        self.shared["_paths"] = count
        return self.workdir / f"{count:03d}-{name}"

    def say(self, message: str) -> None:
        """Progress, on stderr so that stdout holds only the table."""
        elapsed = time.perf_counter() - self.started
        print(f"[{elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)


async def child_report(module: str, mode: str, path: Path) -> bytes:
    """Run `python -m module mode path` in a fresh process (its memory is the figure's own,
    not this run's) and return the JSON report it prints last."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_ROOT), environment.get("PYTHONPATH", "")) if p
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        mode,
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{mode} pass failed:\n{err.decode(errors='replace')[-3000:]}")
    return out.splitlines()[-1]
