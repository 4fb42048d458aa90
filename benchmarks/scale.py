"""The service at scale (issue 17): pages, an owner's document, start-up and resident memory,
on the big log against the small one (1,000,000 and 100,000 events in a full run).

Each log is made ready once as a deployment would have it: an admin token issued, the
projections rebuilt, the first checkpoint made (it verifies the whole log once). Then each run
starts `agreements` under uvicorn (`benchmarks.serve`) on the log, small and big alternating,
and measures, one request at a time over loopback:

- start-up: from spawning the process to the first answer of `GET /partnerships?limit=100`;
- a list page: first pages of `GET /partnerships` (each with another `limit`, 90 to 99, so
  that none is the answer the cache already holds, as after a write);
- later pages: pages 2 to 11 of a walk by cursor;
- a page of owners, `GET /owners` (first pages, `limit` 10 to 19 as for the list page: the
  big log has 20 owners, so a limit of 100 would be the same page on both logs whatever it
  cost);
- an owner's document, `GET /owners/{id}`, once for each owner (each the first read of it);
- resident memory of the server after a mixed load: 4 clients each walking list pages,
  reading owners and partnerships, asking for a checkpoint and proofs, and appending.

Each figure's value is the big log's, its baseline the small log's (target: at most 1.5x, and
under 200 MB resident at 1,000,000 events).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec

from benchmarks import baselines, data
from benchmarks.context import Context, child_report
from benchmarks.http_load import _free_port, _request, _tail
from benchmarks.log import big_log, first_report, small_log
from benchmarks.results import Check, Row
from events.store import open_store

_ROOT = Path(__file__).resolve().parent.parent
WALK_PAGES = 10
LOAD_CLIENTS = 4
LOAD_ROUNDS = 15
RSS_LIMIT_MB = 200.0

FIGURES = (
    ("scale_list_page", "GET /partnerships?limit=100, a first page (not cached)", "ms"),
    ("scale_later_page", "GET /partnerships?limit=100, later pages by cursor", "ms"),
    ("scale_owner_list", "GET /owners?limit=N, a first page (not cached)", "ms"),
    ("scale_owner_page", "GET /owners/{id}, each owner's first read", "ms"),
    ("scale_startup", "start-up: process start to the first list page answered", "ms"),
    ("scale_rss", "server's resident memory after a mixed load", "MB"),
)


class _Ready(msgspec.Struct, frozen=True):
    path: Path
    token: str


class _Run(msgspec.Struct, frozen=True):
    startup_ms: float
    list_ms: float
    later_ms: float
    owner_list_ms: float
    owner_ms: float
    rss_mb: float
    start_rss_mb: float
    owners: int
    load_requests: int


async def figures(ctx: Context) -> list[Row]:
    big = await big_log(ctx)
    small = await small_log(ctx)
    full = ctx.scale.log_events >= 1_000_000
    ratio = [Check("≤ 1.5x the small log", "ratio", 1.5, at_most=True)] if full else []
    rows = {
        key: Row(
            key=key,
            title=title,
            unit=unit,
            baseline="the same on a log a tenth the size",
            checks=list(ratio),
        )
        for key, title, unit in FIGURES
    }
    if full:
        rows["scale_rss"].checks.append(
            Check(f"< {RSS_LIMIT_MB:.0f} MB", "median", RSS_LIMIT_MB, at_most=True)
        )
    ready = [await _prepare(ctx, small), await _prepare(ctx, big.path)]
    for _ in range(ctx.runs):
        for log, is_big in ((ready[0], False), (ready[1], True)):
            run = await _measure(ctx, log)
            for key, value in (
                ("scale_list_page", run.list_ms),
                ("scale_later_page", run.later_ms),
                ("scale_owner_list", run.owner_list_ms),
                ("scale_owner_page", run.owner_ms),
                ("scale_startup", run.startup_ms),
                ("scale_rss", run.rss_mb),
            ):
                (rows[key].samples if is_big else rows[key].baseline_samples).append(value)
            if is_big:
                rows["scale_rss"].add_extra("start_rss_mb", run.start_rss_mb)
                rows["scale_rss"].add_extra("load_requests", run.load_requests)
                rows["scale_owner_page"].add_extra("owners", run.owners)
    for row in rows.values():
        row.notes.append(f"{big.events:,} events vs a tenth; SQLite; a fresh server each run")
    return [*first_report(ctx, big), *rows.values()]


async def _prepare(ctx: Context, path: Path) -> _Ready:
    """An admin token, the projections rebuilt and the first checkpoint made, once a log."""
    from service.tokens import TokenTable

    store = await open_store(baselines.sqlite_url(path))
    try:
        issued = await TokenTable(store).issue(name="bench", role="admin", metadata=data.METADATA)
    finally:
        await store.close()
    started = time.perf_counter()
    await child_report("benchmarks.rebuild_child", "rebuild", path)
    await child_report("benchmarks.proofs_child", "prime", path)
    seconds = time.perf_counter() - started
    ctx.say(f"{path.name}: projections and first checkpoint in {seconds:.0f} s")
    return _Ready(path=path, token=issued.secret)


async def _measure(ctx: Context, log: _Ready) -> _Run:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = ctx.path("scale-server.log")
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_ROOT), environment.get("PYTHONPATH", "")) if p
    )
    token = log.token
    first_page = f"{base}/partnerships?limit={3 if ctx.quick else 100}"
    with log_path.open("wb") as log_file:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.serve",
            "service",
            str(port),
            baselines.sqlite_url(log.path),
            stdout=log_file,
            stderr=log_file,
            cwd=str(ctx.workdir),
            env=environment,
        )
    try:
        while True:
            if process.returncode is not None or time.perf_counter() - started > 300:
                raise RuntimeError(f"the server did not answer\n{_tail(log_path)}")
            status, _ = await _request("GET", first_page, token)
            if status == 200:
                break
            await asyncio.sleep(0.02)
        startup_ms = (time.perf_counter() - started) * 1000
        start_rss = _rss_mb(process.pid)

        page = 3 if ctx.quick else 100  # a quick run's small log has 42 partnerships
        list_ms, later_ms = [], []
        for limit in range(page - 10 if page > 10 else 1, page):
            took, _ = await _timed(f"{base}/partnerships?limit={limit}", token)
            list_ms.append(took)
        _, body = await _timed(first_page, token)
        link = body["next"]
        for _ in range(WALK_PAGES):
            if link is None:
                break
            took, body = await _timed(base + link, token)
            later_ms.append(took)
            link = body["next"]
        owner_list_ms = [
            (await _timed(f"{base}/owners?limit={limit}", token))[0] for limit in range(10, 20)
        ]
        _, owners = await _timed(f"{base}/owners?limit=100", token)
        owner_ids = [owner["owner_id"] for owner in owners["owners"]]
        owner_ms = [(await _timed(f"{base}/owners/{o}", token))[0] for o in owner_ids]
        _, listed = await _timed(first_page, token)
        agreement_ids = [item["agreement_id"] for item in listed["partnerships"]]

        counts = await asyncio.gather(
            *(
                _mixed_load(base, token, owner_ids, agreement_ids, random.Random(client))
                for client in range(LOAD_CLIENTS)
            )
        )
        return _Run(
            startup_ms=startup_ms,
            list_ms=statistics.median(list_ms),
            later_ms=statistics.median(later_ms),
            owner_list_ms=statistics.median(owner_list_ms),
            owner_ms=statistics.median(owner_ms),
            rss_mb=_rss_mb(process.pid),
            start_rss_mb=start_rss,
            owners=len(owner_ids),
            load_requests=sum(counts),
        )
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _mixed_load(
    base: str, token: str, owner_ids: list[str], agreement_ids: list[str], chooser: random.Random
) -> int:
    """Rounds of what a register's users and auditors ask for; returns the requests made."""
    made = 0
    for _ in range(LOAD_ROUNDS):
        _, page = await _timed(f"{base}/partnerships?limit=100", token)
        for _ in range(3):
            if page["next"] is None:
                break
            _, page = await _timed(base + page["next"], token)
        await _timed(f"{base}/owners?limit=100", token)
        await _timed(f"{base}/owners/{chooser.choice(owner_ids)}", token)
        agreement = chooser.choice(agreement_ids)
        await _timed(f"{base}/partnerships/{agreement}", token)
        _, checkpoint = await _timed(f"{base}/audit/checkpoint", token)
        size = checkpoint["size"]
        position = chooser.randint(1, size)
        await _timed(f"{base}/audit/inclusion?position={position}&size={size}", token)
        await _timed(f"{base}/audit/consistency?from={chooser.randint(1, size)}&to={size}", token)
        await _append(base, token, agreement)
        made += 12
    return made


async def _append(base: str, token: str, agreement: str) -> None:
    note = {"text": "Minutes of the steering committee.", "link": "https://example.org/m"}
    events = [
        {
            "event_id": str(uuid.uuid4()),
            "type": "NoteAttached",
            "occurred_at": "2023-06-01T09:00:00Z",
            "data": note,
        }
        for _ in range(5)
    ]
    body = msgspec.json.encode({"events": events, "expected_version": "any"})
    status, answer = await _request("POST", f"{base}/streams/{agreement}/events", token, body)
    if status not in (200, 201):
        raise RuntimeError(f"append failed: {status} {answer[:300]!r}")


async def _timed(url: str, token: str) -> tuple[float, Any]:
    """Milliseconds of one GET (which must succeed) and its decoded answer."""
    started = time.perf_counter()
    status, answer = await _request("GET", url, token)
    took = (time.perf_counter() - started) * 1000
    if status != 200:
        raise RuntimeError(f"GET {url}: {status} {answer[:300]!r}")
    return took, msgspec.json.decode(answer)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
