"""The real service as a subprocess, a load of concurrent appends, and checks of what was stored.

`start_server` runs `python -m service serve` on a free loopback port, waits for `/health` and
reads the admin token it prints on a register's first start (pass `token=` on a restart).
`append_load` drives it with many concurrent httpx clients, each batch with client-chosen
event ids, and records every acknowledged response; `check_log` then proves from the database
that acknowledged events are stored exactly once, no batch is half-stored and the hash chain
verifies. `projections_equal_rebuild` compares the live projection rows with a rebuild.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec

from events.envelope import Metadata, Proposed, RecordedEvent
from events.store import EventStore, open_store
from events.verification import verify_chain
from projections.rebuild import rebuild
from tests._event_strategies import table_rows

ROOT = Path(__file__).resolve().parent.parent
_TOKEN = re.compile(r"^\s+(agr_[0-9a-f]{16}_[A-Za-z0-9_-]{43})\s*$", re.MULTILINE)
_CONNECTION_LOST = (httpx.TransportError,)
"""What a client sees when the server dies or stops under it: the append is unacknowledged."""
_BACKLOG_ACTOR = Metadata(actor="tests (backlog)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run_cli(*arguments: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """`python -m service ARGUMENTS` to completion, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "service", *arguments],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(extra or {})}


@dataclasses.dataclass
class Server:
    """A running `agreements serve` process."""

    process: subprocess.Popen[bytes]
    base_url: str
    database_url: str
    token: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9: no shutdown code runs, as in a power cut of the process."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, as a service manager stops it; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, and assert a clean stop within `timeout` seconds: the application's
        shutdown ran to completion and nothing failed on the way. (uvicorn re-raises the
        signal once it has shut down, so the status is "terminated by SIGTERM", which service
        managers count as a clean exit; 0 is accepted too.)"""
        status = self.terminate(timeout)
        output = self.output()
        assert status in (0, -signal.SIGTERM), f"exit status {status}:\n{output}"
        assert "Application shutdown complete." in output, output
        assert "Traceback" not in output and "ERROR" not in output, output

    def rss_bytes(self) -> int:
        """Resident memory of the server process, from /proc."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        assert found is not None, status
        return int(found[1]) * 1024


def start_server(
    database_url: str,
    directory: Path,
    *,
    token: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
    arguments: tuple[str, ...] = (),
) -> Server:
    """Start the service on a free port and wait until /health answers 200.

    `token`: the admin token from an earlier start (only a first start prints one);
    `arguments`: more options for `serve` (such as `--demo`)."""
    port = free_port()
    log_path = directory / f"server-{port}.log"
    with log_path.open("wb") as output:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "service", "serve", "--host", "127.0.0.1"),
                *("--port", str(port), "--database-url", database_url),
                *arguments,
            ],
            cwd=ROOT,
            env=_environment(env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited ({process.returncode}):\n{_read(log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer /health:\n{_read(log_path)}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.05)
        if token is None:
            found = _TOKEN.search(_read(log_path))
            if found is None:
                raise RuntimeError(f"the server printed no admin token:\n{_read(log_path)}")
            token = found[1]
    except BaseException:
        process.kill()
        process.wait()
        raise
    return Server(process, base_url, database_url, token, log_path)


def _read(path: Path) -> str:
    return path.read_text(errors="replace")


# -- load --------------------------------------------------------------------------------


@dataclasses.dataclass
class Batch:
    """One append as a client sent it, and what (if anything) acknowledged it."""

    stream_id: str
    event_ids: list[str]
    status: int | None = None
    """The HTTP status, or None when the connection was lost before an answer."""
    response: dict[str, Any] | None = None
    answered_at: float | None = None
    """`time.monotonic()` when the answer arrived."""

    @property
    def acknowledged(self) -> bool:
        return self.status in (200, 201)


def signed(event_id: str, title: str = "Cooperation on semiconductors") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "AgreementSigned",
        "occurred_at": "2022-12-06T10:00:00Z",
        "data": {
            "kind": "MoC",
            "title": title,
            "parties": [
                {"organisation": "imec", "signatory": {"name": "Luc Van den hove"}},
                {"organisation": "Rapidus", "signatory": {"name": "Atsuyoshi Koike"}},
            ],
            "signed_on": "2022-12-06",
        },
    }


def note(event_id: str, number: int = 0) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "NoteAttached",
        "occurred_at": "2023-01-05T09:00:00Z",
        "data": {"text": f"Minutes of steering committee meeting {number}."},
    }


def _new_id() -> str:
    return str(uuid.uuid4())


async def _client(
    base_url: str,
    headers: dict[str, str],
    stop: asyncio.Event,
    rng: random.Random,
    sent: list[Batch],
) -> None:
    """Appends until `stop`: new agreements (signed plus notes) and notes on its own
    acknowledged agreements, 1-6 events a batch. Each batch goes into `sent` before it is
    sent."""
    mine: list[str] = []
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits) as client:
        while not stop.is_set():
            if mine and rng.random() < 0.5:
                stream_id = rng.choice(mine)
                events = [note(_new_id(), n) for n in range(rng.randint(1, 6))]
            else:
                stream_id = f"agreement-{uuid.uuid4().hex[:16]}"
                events = [signed(_new_id())] + [
                    note(_new_id(), n) for n in range(rng.randint(0, 5))
                ]
            batch = Batch(stream_id, [e["event_id"] for e in events])
            sent.append(batch)
            try:
                answer = await client.post(
                    f"/streams/{stream_id}/events", json={"events": events}, timeout=30
                )
            except _CONNECTION_LOST:
                await asyncio.sleep(0.05)  # the server is gone or going; try again shortly
                continue
            batch.status = answer.status_code
            batch.answered_at = time.monotonic()
            if batch.acknowledged:
                batch.response = answer.json()
                if batch.response["from_version"] == 1:
                    mine.append(stream_id)


@contextlib.asynccontextmanager
async def append_load(
    server: Server, *, clients: int = 16, seed: int = 0
) -> AsyncIterator[list[Batch]]:
    """Concurrent appends for the duration of the block, into the list it yields (which
    grows as batches are sent and answered); the clients stop when the block ends."""
    stop = asyncio.Event()
    rng = random.Random(seed)
    batches: list[Batch] = []
    tasks = [
        asyncio.create_task(
            _client(server.base_url, server.headers(), stop, random.Random(rng.random()), batches)
        )
        for _ in range(clients)
    ]
    try:
        yield batches
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def until_acknowledged(batches: list[Batch], count: int, timeout: float = 60.0) -> None:  # noqa: ASYNC109
    """Wait until at least `count` of `batches` have been acknowledged."""
    async with asyncio.timeout(timeout):
        while sum(b.acknowledged for b in batches) < count:  # noqa: ASYNC110 (a poll)
            await asyncio.sleep(0.01)


async def backlog(
    database_url: str, agreements: int, notes: int = 9, *, prefix: str = "backlog"
) -> int:
    """Append `agreements` agreements of 1 + `notes` events straight through the store (no
    server), concurrently so that they group-commit; the head afterwards."""
    store = await open_store(database_url)
    try:
        when = dt.datetime(2023, 1, 5, 9, tzinfo=dt.UTC)
        signing = msgspec.json.encode(signed("x")["data"])
        minutes = [msgspec.json.encode(note("x", n)["data"]) for n in range(notes)]

        async def one(number: int) -> None:
            events = [Proposed(type="AgreementSigned", data=signing, occurred_at=when)]
            events += [Proposed(type="NoteAttached", data=m, occurred_at=when) for m in minutes]
            await store.append(f"agreement-{prefix}-{number}", events, metadata=_BACKLOG_ACTOR)

        for start in range(0, agreements, 200):
            await asyncio.gather(*(one(n) for n in range(start, min(start + 200, agreements))))
        return await store.head()
    finally:
        await store.close()


# -- checks ------------------------------------------------------------------------------


async def read_everything(store: EventStore) -> list[RecordedEvent]:
    events: list[RecordedEvent] = []
    while page := await store.read_all(after=events[-1].position if events else 0, limit=5000):
        events.extend(page)
    return events


async def check_log(database_url: str, batches: list[Batch]) -> list[RecordedEvent]:
    """Assert what a crash must not break; returns the whole log.

    Every acknowledged batch is stored, exactly once, at the positions its answer named;
    every batch sent (answered or not) is stored entirely, contiguously, or not at all;
    positions are gapless; the hash chain verifies."""
    store = await open_store(database_url)
    try:
        events = await read_everything(store)
    finally:
        await store.close()
    assert [e.position for e in events] == list(range(1, len(events) + 1)), "positions have gaps"
    counts = Counter(e.event_id for e in events)
    assert not [i for i, n in counts.items() if n > 1], "an event is stored twice"
    report = verify_chain(events)
    assert report.ok, report
    by_id = {e.event_id: e for e in events}
    for batch in batches:
        stored = [by_id[i] for i in batch.event_ids if i in by_id]
        if batch.acknowledged:
            assert batch.response is not None
            assert len(stored) == len(batch.event_ids), f"acknowledged batch lost: {batch}"
            assert stored[0].position == batch.response["from_position"], batch
            assert stored[-1].position == batch.response["to_position"], batch
        if not stored:
            continue
        assert len(stored) == len(batch.event_ids), f"half-stored batch: {batch}"
        first = stored[0]
        assert [e.position for e in stored] == list(
            range(first.position, first.position + len(stored))
        ), f"batch not contiguous: {batch}"
        assert [e.version for e in stored] == list(
            range(first.version, first.version + len(stored))
        ), batch
        assert {e.stream_id for e in stored} == {batch.stream_id}, batch
    return events


async def wait_caught_up(server: Server, timeout: float = 60.0) -> int:  # noqa: ASYNC109
    """Wait until the server's projections have applied its whole log; the head."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        while True:
            health = (await client.get("/health", timeout=5)).json()
            projections = health["projections"]
            if projections is not None and projections["lag"] == 0:
                return int(health["head"])
            assert time.monotonic() < deadline, f"projections did not catch up: {health}"
            await asyncio.sleep(0.05)


async def projections_equal_rebuild(database_url: str) -> None:
    """The live projection rows (and checkpoints) equal a rebuild from the log. Run it with
    no server writing: the rebuild replaces the live tables in place."""
    store = await open_store(database_url)
    try:
        live = await table_rows(store.engine)
        head = await store.head()
        assert await rebuild(store) == head
        rebuilt = await table_rows(store.engine)
    finally:
        await store.close()
    for name in rebuilt:
        assert live[name] == rebuilt[name], f"projection table {name} differs from a rebuild"
    assert live.keys() == rebuilt.keys()
