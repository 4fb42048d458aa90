"""Several processes append to one log at once while another follows it (issue 3).

4 writer processes x 8 tasks append 4,000 events to 50 streams, with exact and "any" expected
versions, cancelled awaits retried with the same event ids, acknowledged batches re-sent through
the same process and through another one; a reader process follows `read_all(after=p)` the
whole time. Separately, several processes open one fresh database at the same moment, as
instances starting together do, and race to migrate it. See tests/_race_worker.py.

PostgreSQL runs skip without a server, except in CI (tests._databases).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from events.envelope import GENESIS_HASH, Metadata, RecordedEvent
from events.hashing import event_hash
from events.store import EventStore, open_store
from tests._databases import BACKENDS, database
from tests._race_worker import batch, stream_name

WRITERS = 4
TASKS = 8
EVENTS = 4000
STREAMS = 50
OPENERS = 6
_ROOT = Path(__file__).resolve().parent.parent
_START_TIMEOUT = 60.0
_RUN_TIMEOUT = 90.0


@contextmanager
def _processes(
    directory: Path, commands: list[list[str]]
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start `python -m tests._race_worker` once per command; kill whatever is left at the end."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        for number, arguments in enumerate(commands):
            with (directory / f"process-{number}.log").open("wb") as output:
                started.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "tests._race_worker", *arguments],
                        cwd=_ROOT,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        env={**os.environ, "PYTHONPATH": str(_ROOT)},
                    )
                )
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait()


def _race_commands(directory: Path, url: str) -> list[list[str]]:
    """The writers, then the reader."""
    writers = [
        [
            *("write", url, str(directory), str(worker)),
            *("--events", str(EVENTS // WRITERS), "--tasks", str(TASKS)),
            *("--streams", str(STREAMS), "--seed", str(worker + 1)),
        ]
        for worker in range(WRITERS)
    ]
    return [*writers, ["read", url, str(directory)]]


async def _wait(
    processes: list[subprocess.Popen[bytes]], done: Callable[[], bool], within: float, what: str
) -> None:
    """Poll until `done()`; fail at once if a process fails, or after `within` seconds."""
    deadline = time.monotonic() + within
    while not done():
        failed = [p for p in processes if p.poll() not in (None, 0)]
        assert not failed, f"a race process failed while {what}: see its process-*.log"
        assert time.monotonic() < deadline, f"timed out while {what}"
        await asyncio.sleep(0.05)


def _logs(directory: Path) -> str:
    return "\n".join(
        f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
        for path in sorted(directory.glob("process-*.log"))
    )


def _records(directory: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(directory.glob("writer-*.jsonl"))
        for line in path.read_text().splitlines()
    ]


async def _whole_log(store: EventStore) -> list[RecordedEvent]:
    events: list[RecordedEvent] = []
    while page := await store.read_all(after=events[-1].position if events else 0, limit=1000):
        events.extend(page)
    return events


async def _run_race(directory: Path, url: str) -> float:
    """Run every process to the end; return the seconds the appends took."""
    with _processes(directory, _race_commands(directory, url)) as processes:
        try:
            await _wait(
                processes,
                lambda: len(list(directory.glob("ready-*"))) == len(processes),
                _START_TIMEOUT,
                "opening the store",
            )
            began = time.monotonic()
            (directory / "go").touch()
            writers = processes[:WRITERS]
            await _wait(
                processes,
                lambda: all(p.poll() == 0 for p in writers),
                _RUN_TIMEOUT,
                "appending",
            )
            elapsed = time.monotonic() - began
            (directory / "stop").touch()
            await _wait(processes, lambda: processes[-1].poll() == 0, 30, "reading to the end")
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n{_logs(directory)}") from None
    return elapsed


@pytest.mark.slow
@pytest.mark.serial
@pytest.mark.timeout(240)
@pytest.mark.parametrize("backend", BACKENDS)
async def test_processes_racing_to_append_lose_skip_or_duplicate_nothing(
    backend: str, tmp_path: Path
) -> None:
    directory = tmp_path / "race"
    directory.mkdir()
    async with database(backend, tmp_path) as url:
        await (await open_store(url)).close()  # racing to migrate is the last test's concern
        elapsed = await _run_race(directory, url)
        store = await open_store(url)
        try:
            log = await _whole_log(store)
            versions = {s: await store.stream_version(stream_name(s)) for s in range(STREAMS)}
        finally:
            await store.close()
    print(f"\n{backend}: {EVENTS} events from {WRITERS}x{TASKS} tasks in {elapsed:.1f}s")

    records = _records(directory)
    acks = [r for r in records if r["kind"] == "ack"]
    refused = [r for r in records if r["kind"] == "refused"]
    foreign = [r for r in records if r["kind"] == "foreign"]
    stored = {e.event_id: e for e in log}

    # Positions 1..N without holes, N = every acknowledged event, each stored once.
    assert [e.position for e in log] == list(range(1, EVENTS + 1))
    assert len(stored) == len(log)
    acked_ids = [i for r in acks for i in r["event_ids"]]
    assert len(acked_ids) == len(set(acked_ids)) == EVENTS
    assert set(acked_ids) == set(stored)

    # Each acknowledged event sits at the acknowledged stream, version and position; a re-send
    # of an acknowledged batch got the same answer, marked as not created.
    for ack in acks:
        count = len(ack["event_ids"])
        assert ack["to_version"] - ack["from_version"] == count - 1
        assert ack["to_position"] - ack["from_position"] == count - 1
        for offset, event_id in enumerate(ack["event_ids"]):
            event = stored[event_id]
            assert event.stream_id == ack["stream"]
            assert event.version == ack["from_version"] + offset
            assert event.position == ack["from_position"] + offset
        if ack["resent"] is not None:
            original = [ack[k] for k in ("from_version", "to_version")]
            original += [ack["from_position"], ack["to_position"]]
            assert ack["resent"] == [*original, False], ack

    # A batch re-sent through another process got the first process's answer.
    by_first_id = {ack["event_ids"][0]: ack for ack in acks}
    for record in foreign:
        ack = by_first_id[record["of"][0]]
        assert ack["event_ids"] == record["of"]
        expected = [ack[k] for k in ("from_version", "to_version", "from_position")]
        assert record["result"] == [*expected, ack["to_position"], False]

    # Refusals were real: the stream had moved on, or was signed already. No refused batch
    # left a trace, and none of its ids was acknowledged later.
    for refusal in refused:
        if refusal["error"] == "WrongExpectedVersion":
            assert refusal["current"] > refusal["expected"], refusal
        else:
            assert refusal["rule"] == "already_signed", refusal
    refused_ids = {i for r in refused for i in r["event_ids"]}
    assert not refused_ids & set(stored)
    assert not refused_ids & set(acked_ids)

    # Each stream's versions are contiguous from 1 in log order and start with the signing.
    by_stream: dict[str, list[RecordedEvent]] = defaultdict(list)
    for event in log:
        by_stream[event.stream_id].append(event)
    assert set(by_stream) <= {stream_name(s) for s in range(STREAMS)}
    for stream_id, events in by_stream.items():
        assert [e.version for e in events] == list(range(1, len(events) + 1)), stream_id
        assert [e.type for e in events].count("AgreementSigned") == 1
        assert events[0].type == "AgreementSigned"
    assert versions == {s: len(by_stream.get(stream_name(s), [])) for s in range(STREAMS)}

    # The hash chain is intact.
    assert log[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(log):
        assert after.prev_hash == before.hash, after.position
    assert all(event_hash(e) == e.hash for e in log)

    # The reader saw every position once, in increasing order, skipping none.
    reader = json.loads((directory / "reader.json").read_text())
    assert reader["positions"] == list(range(1, EVENTS + 1))
    assert reader["polls"] > 10  # it really followed the appends, not just read at the end

    # The race really exercised what it claims to.
    hows = Counter((r["how"], r["created"]) for r in acks)
    assert hows["cancelled", False] > 0  # cancelled after queueing: landed, retry returned it
    assert hows["cancelled", True] > 0  # cancelled before queueing: the retry stored it
    assert hows["resent", True] > 0
    assert foreign
    errors = Counter(r["error"] for r in refused)
    assert errors["WrongExpectedVersion"] > 0
    print(f"{len(acks)} batches {dict(hows)}, {len(foreign)} re-sent by another process")
    print(f"refused {dict(errors)}; the reader polled {reader['polls']} times")
    assert len({bytes(e.metadata) for e in log}) == WRITERS  # every process wrote


@pytest.mark.slow
@pytest.mark.serial
@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", BACKENDS)
async def test_instances_starting_together_on_a_fresh_database_all_open_it(
    backend: str, tmp_path: Path
) -> None:
    directory = tmp_path / "start"
    directory.mkdir()
    async with database(backend, tmp_path) as url:
        commands = [["open", url, str(directory), str(n)] for n in range(OPENERS)]
        with _processes(directory, commands) as processes:
            try:
                await _wait(
                    processes,
                    lambda: len(list(directory.glob("ready-*"))) == OPENERS,
                    _START_TIMEOUT,
                    "starting",
                )
                (directory / "go").touch()
                await _wait(
                    processes,
                    lambda: all(p.poll() == 0 for p in processes),
                    _START_TIMEOUT,
                    "opening the store together",
                )
            except AssertionError as failure:
                raise AssertionError(f"{failure}\n{_logs(directory)}") from None
        store = await open_store(url)
        try:
            events = batch(0, 2, random.Random(1), "start")
            result = await store.append(stream_name(0), events, metadata=Metadata(actor="t"))
        finally:
            await store.close()
    assert (result.from_position, result.to_position) == (1, 2)
