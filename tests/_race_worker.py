"""One process of the append race (tests/test_race.py): a writer or the following reader.

    python -m tests._race_worker write URL DIR WORKER --events N --tasks T --streams S --seed X
    python -m tests._race_worker read URL DIR
    python -m tests._race_worker open URL DIR WORKER

Writers and the reader touch `DIR/ready-<name>` once their store is open and start when `DIR/go`
appears, so every process races from the same moment. A writer appends N events to S streams from T
tasks and writes one JSON line per settled batch to `DIR/writer-<WORKER>.jsonl`:

    {"kind": "ack", "stream": ..., "event_ids": [...], "from_version": ..., "to_version": ...,
     "from_position": ..., "to_position": ..., "created": bool, "how": "plain"|"cancelled"|...,
     "resent": [from_version, to_version, from_position, to_position, created] | null,
     "events": [{"type", "data", "occurred_at", "event_id"}, ...]}
    {"kind": "refused", "stream": ..., "event_ids": [...], "error": "WrongExpectedVersion",
     "rule": null, "expected": ..., "current": ..., "how": ...}
    {"kind": "foreign", "of": [event ids of another writer's ack], "result": [...]}

A foreign record is a re-send, through this process's store, of a batch another writer had
acknowledged (a client retrying through another instance).

Every batch ends acknowledged or refused: a batch whose outcome was unknown (its await was
cancelled, or the store was unavailable) is re-sent with the same event ids until the store
answers. The reader follows `read_all(after=p)` until `DIR/stop` appears and it has caught up,
then writes every position it saw, in order, to `DIR/reader.json`. An opener waits for `DIR/go`
first, then opens the store (migrating the database if needed) and closes it again: several
instances starting together on a fresh database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import random
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from events.catalogue import (
    AgreementEndorsed,
    AgreementSigned,
    NoteAttached,
    Party,
    Person,
    encode_data,
)
from events.database import create_engine
from events.envelope import AppendResult, ExpectedVersion, Metadata, Proposed
from events.errors import RuleViolation, StoreUnavailable, WrongExpectedVersion
from events.store import EventStore, open_store

SIGNED_ON = dt.date(2022, 12, 6)
STREAM_PREFIX = "agreement-race-"
POOL: dict[str, Any] = {"pool_size": 8, "max_overflow": 4}
"""Per process: 8 tasks, the writer and the listener; 4 processes stay far below 100."""

_MAX_CONFLICTS = 20
"""Exact-version attempts on one batch before falling back to "any" (bounds hot streams)."""
_MAX_REFUSALS = 200
"""Refusals of one batch before the worker gives up (a store refusing for no reason)."""
_MAX_UNAVAILABLE = 30
_START_TIMEOUT = 60.0
_SETTLED_ERRORS = (WrongExpectedVersion, RuleViolation, StoreUnavailable)
_READ_TIMEOUT = 150.0


def stream_name(number: int) -> str:
    return f"{STREAM_PREFIX}{number}"


class _Journal:
    """The worker's result file: one flushed JSON line per settled batch."""

    def __init__(self, file: TextIO) -> None:
        self._file = file

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()


def batch(stream_version: int, size: int, rng: random.Random, tag: str) -> list[Proposed]:
    """Fresh events (new ids): AgreementSigned first on an empty stream, then follow-ups."""
    now = dt.datetime.now(dt.UTC)
    events: list[Proposed] = []
    for index in range(size):
        data: AgreementSigned | NoteAttached | AgreementEndorsed
        if stream_version == 0 and index == 0:
            data = AgreementSigned(
                kind="MoC",
                title=f"Race agreement {tag}",
                parties=[
                    Party(organisation="imec", signatory=Person(name="Luc Van den hove")),
                    Party(organisation="Rapidus", signatory=Person(name="Atsuyoshi Koike")),
                ],
                signed_on=SIGNED_ON,
            )
        elif rng.random() < 0.3:
            data = AgreementEndorsed(
                endorser=Person(name=f"Endorser {tag}/{index}"),
                on_behalf_of="Government of Flanders",
                endorsed_on=SIGNED_ON,
            )
        else:
            data = NoteAttached(text=f"note {tag}/{index}")
        events.append(
            Proposed(type=data.type_name, data=data, occurred_at=now, event_id=str(uuid.uuid4()))
        )
    return events


def _ids(events: Sequence[Proposed]) -> list[str]:
    return [e.event_id for e in events if e.event_id is not None]


def _portable(events: Sequence[Proposed]) -> list[dict[str, Any]]:
    """The batch as JSON, so another process can re-send exactly the same events."""
    return [
        {
            "type": e.type,
            "data": e.data.decode() if isinstance(e.data, bytes) else encode_data(e.data).decode(),
            "occurred_at": e.occurred_at.isoformat(),
            "event_id": e.event_id,
        }
        for e in events
    ]


def _unportable(batch: list[dict[str, Any]]) -> list[Proposed]:
    return [
        Proposed(
            type=e["type"],
            data=e["data"].encode(),
            occurred_at=dt.datetime.fromisoformat(e["occurred_at"]),
            event_id=e["event_id"],
        )
        for e in batch
    ]


def _as_list(result: AppendResult) -> list[Any]:
    return [
        result.from_version,
        result.to_version,
        result.from_position,
        result.to_position,
        result.created,
    ]


class _Writer:
    def __init__(
        self,
        store: EventStore,
        journal: _Journal,
        directory: Path,
        *,
        streams: int,
        worker: int,
        seed: int,
    ) -> None:
        self._store = store
        self._journal = journal
        self._directory = directory
        self._streams = [stream_name(n) for n in range(streams)]
        self._metadata = Metadata(actor=f"race-worker-{worker}", correlation_id=str(seed))
        self._worker = worker
        self._seed = seed

    async def run_task(self, task: int, quota: int) -> None:
        rng = random.Random(self._seed * 1000 + task)
        remaining, serial = quota, 0
        while remaining > 0:
            size = min(rng.randint(1, 4), remaining)
            stream = rng.choice(self._streams)
            serial += 1
            tag = f"{self._worker}.{task}.{serial}"
            await self._land(rng, stream, size, tag, exact=rng.random() < 0.5)
            remaining -= size
            if rng.random() < 0.04:
                await self._resend_foreign(rng)

    async def _resend_foreign(self, rng: random.Random) -> None:
        """Re-send a batch another process had acknowledged, as a client retrying through
        another instance would: the answer must be that process's answer."""
        others = [
            path
            for path in self._directory.glob("writer-*.jsonl")
            if path.name != f"writer-{self._worker}.jsonl"
        ]
        acks = []
        for path in others:
            for line in path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(ValueError):  # a line still being written
                    record = json.loads(line)
                    if record["kind"] == "ack":
                        acks.append(record)
        if not acks:
            return
        original = rng.choice(acks)
        result = await self._send(original["stream"], _unportable(original["events"]), "any")
        self._journal.write(
            {"kind": "foreign", "of": original["event_ids"], "result": _as_list(result)}
        )

    async def _land(
        self, rng: random.Random, stream: str, size: int, tag: str, *, exact: bool
    ) -> None:
        """Append one batch of `size` events, retrying refusals with fresh ids until stored."""
        conflicts = 0
        while True:
            version = await self._store.stream_version(stream)
            events = batch(version, size, rng, tag)
            expected: ExpectedVersion = version if exact and conflicts < _MAX_CONFLICTS else "any"
            roll = rng.random()
            how = "cancelled" if roll < 0.15 else "resent" if roll < 0.3 else "plain"
            try:
                result = await self._settle(rng, stream, events, expected, how)
            except (WrongExpectedVersion, RuleViolation) as refusal:
                self._journal.write(
                    {
                        "kind": "refused",
                        "stream": stream,
                        "event_ids": _ids(events),
                        "error": type(refusal).__name__,
                        "rule": getattr(refusal, "rule", None),
                        "expected": expected,
                        "current": getattr(refusal, "current_version", None),
                        "how": how,
                    }
                )
                conflicts += 1
                if conflicts > _MAX_REFUSALS:
                    raise RuntimeError(f"{stream}: refused {conflicts} times ({refusal})") from None
                continue
            resent = None
            if how == "resent":
                again = await self._send(stream, events, expected)
                resent = _as_list(again)
            self._journal.write(
                {
                    "kind": "ack",
                    "stream": stream,
                    "event_ids": _ids(events),
                    "from_version": result.from_version,
                    "to_version": result.to_version,
                    "from_position": result.from_position,
                    "to_position": result.to_position,
                    "created": result.created,
                    "how": how,
                    "resent": resent,
                    "events": _portable(events),
                }
            )
            return

    async def _settle(
        self,
        rng: random.Random,
        stream: str,
        events: list[Proposed],
        expected: ExpectedVersion,
        how: str,
    ) -> AppendResult:
        if how != "cancelled":
            return await self._send(stream, events, expected)
        attempt = asyncio.create_task(
            self._store.append(stream, events, expected_version=expected, metadata=self._metadata)
        )
        # Cancelled before it starts (never queued) or after it is queued (it may land).
        if rng.random() < 0.7:
            await asyncio.sleep(0)
        attempt.cancel()
        with contextlib.suppress(asyncio.CancelledError, *_SETTLED_ERRORS):
            await attempt
        # The outcome is unknown to the caller: the retry with the same ids decides. The
        # writer's queue is FIFO, so a refusal here means the first attempt was not stored.
        return await self._send(stream, events, expected)

    async def _send(
        self, stream: str, events: list[Proposed], expected: ExpectedVersion
    ) -> AppendResult:
        for _ in range(_MAX_UNAVAILABLE):
            try:
                return await self._store.append(
                    stream, events, expected_version=expected, metadata=self._metadata
                )
            except StoreUnavailable:
                await asyncio.sleep(0.1)
        raise RuntimeError(f"the store stayed unavailable for a batch to {stream}")


async def _wait_for_go(directory: Path, name: str) -> None:
    (directory / f"ready-{name}").touch()
    deadline = time.monotonic() + _START_TIMEOUT
    while not (directory / "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("no go signal")
        await asyncio.sleep(0.01)


async def write(
    url: str, directory: Path, worker: int, *, events: int, tasks: int, streams: int, seed: int
) -> None:
    store = await open_store(url, **POOL)
    try:
        await _wait_for_go(directory, f"writer-{worker}")
        quotas = [events // tasks + (1 if t < events % tasks else 0) for t in range(tasks)]
        with (directory / f"writer-{worker}.jsonl").open("w", encoding="utf-8") as file:
            writer = _Writer(
                store, _Journal(file), directory, streams=streams, worker=worker, seed=seed
            )
            async with asyncio.TaskGroup() as group:
                for task, quota in enumerate(quotas):
                    group.create_task(writer.run_task(task, quota))
    finally:
        await store.close()


async def read(url: str, directory: Path) -> None:
    """Follow the log by position as a projection would, recording every position seen."""
    store = EventStore(create_engine(url, pool_size=2, max_overflow=0))
    seen: list[int] = []
    polls = 0
    try:
        await _wait_for_go(directory, "reader")
        deadline = time.monotonic() + _READ_TIMEOUT
        while time.monotonic() < deadline:
            stopping = (directory / "stop").exists()  # checked before the read: see below
            page = await store.read_all(after=seen[-1] if seen else 0, limit=500)
            polls += 1
            seen.extend(e.position for e in page)
            if not page:
                if stopping:  # writers were done before this read began: nothing is left
                    break
                await asyncio.sleep(0.002)
    finally:
        await store.close()
        (directory / "reader.json").write_text(json.dumps({"positions": seen, "polls": polls}))


async def open_and_close(url: str, directory: Path, worker: int) -> None:
    await _wait_for_go(directory, f"opener-{worker}")
    store = await open_store(url, pool_size=2, max_overflow=0)
    await store.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests._race_worker")
    parser.add_argument("role", choices=["write", "read", "open"])
    parser.add_argument("url")
    parser.add_argument("directory", type=Path)
    parser.add_argument("worker", type=int, nargs="?", default=0)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.role == "read":
        asyncio.run(read(args.url, args.directory))
    elif args.role == "open":
        asyncio.run(open_and_close(args.url, args.directory, args.worker))
    else:
        asyncio.run(
            write(
                args.url,
                args.directory,
                args.worker,
                events=args.events,
                tasks=args.tasks,
                streams=args.streams,
                seed=args.seed,
            )
        )


if __name__ == "__main__":
    main()
