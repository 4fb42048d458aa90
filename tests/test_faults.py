"""Faults of the database under the running service (issue 5): a full disk, a read-only
database, a database locked by another process, and (PostgreSQL) connections dropped by the
server. Appends answer 503 problem+json with `Retry-After`, store nothing of a refused batch,
leave the store intact (integrity check, hash chain), and work again by themselves, without a
restart, once the fault clears. Reads keep working while another process holds the write lock.

The app runs in this process (its real lifespan, store and projection runner) so that a
test-only hook can reach its SQLite connections: `service.app.open_store` is wrapped to set a
short busy timeout (200 ms instead of 10 s, so "locked longer than the busy timeout" takes a
second, not ten) and to run two pragmas at the start of every transaction:
`max_page_count` (the database cannot grow: SQLITE_FULL, as on a full disk) and `query_only`
(writes fail with SQLITE_READONLY, as on a read-only file; chmod would not do as root).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event
from starlette.types import ASGIApp, Receive, Scope, Send

from events.store import EventStore, open_store
from events.verification import verify_chain
from service import app as app_module
from service.app import create_app
from service.settings import Settings
from tests._databases import ADMIN_DSN, fresh_postgres
from tests._server import note, read_everything, signed

_NO_LIMIT = 1_073_741_823


@dataclasses.dataclass
class Faults:
    """What the hook does to every transaction the service starts."""

    full: bool = False
    read_only: bool = False


@dataclasses.dataclass
class Service:
    client: httpx.AsyncClient
    store: EventStore
    headers: dict[str, str]

    async def append(self, stream_id: str, events: list[dict[str, Any]]) -> httpx.Response:
        return await self.client.post(
            f"/streams/{stream_id}/events", json={"events": events}, headers=self.headers
        )


class _WithState:
    """Hand each request the lifespan's state, as a server does."""

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self._app, self._state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["state"] = dict(self._state)
        await self._app(scope, receive, send)


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def hooked(monkeypatch: pytest.MonkeyPatch, faults: Faults) -> None:
    async def open_hooked(url: str, **settings: Any) -> EventStore:
        if not url.startswith("sqlite"):
            return await open_store(url, **settings)
        store = await open_store(url, sqlite_busy_timeout_ms=200, **settings)

        def pragmas(execute: Any) -> None:
            execute(f"PRAGMA query_only = {int(faults.read_only)}")
            execute(f"PRAGMA max_page_count = {1 if faults.full else _NO_LIMIT}")

        # After BEGIN on every transaction: the fault reaches connections already in use
        # (the writer keeps one). At checkout too: BEGIN IMMEDIATE itself fails on a
        # query-only connection, so a cleared fault must be cleared before it.
        for engine in store.sync_engines:  # the readers' and the writer's own

            @event.listens_for(engine, "begin")
            def _on_begin(connection: Any) -> None:
                pragmas(connection.exec_driver_sql)

            @event.listens_for(engine, "checkout")
            def _on_checkout(dbapi_connection: Any, *_: Any) -> None:
                cursor = dbapi_connection.cursor()
                pragmas(cursor.execute)
                cursor.close()

        return store

    monkeypatch.setattr(app_module, "open_store", open_hooked)


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "agreements.db"


async def _service(url: str) -> AsyncIterator[Service]:
    announced: list[str] = []
    settings = Settings(
        database_url=url, announce_token=announced.append, token_refresh_seconds=0.05
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:
        assert state is not None
        transport = httpx.ASGITransport(app=_WithState(app, dict(state)))
        async with httpx.AsyncClient(transport=transport, base_url="http://agreements") as client:
            headers = {"Authorization": f"Bearer {announced[0]}"}
            yield Service(client, state["services"].store, headers)


@pytest.fixture
async def service(hooked: None, sqlite_path: Path) -> AsyncIterator[Service]:
    async for running in _service(f"sqlite+aiosqlite:///{sqlite_path}"):
        yield running


def _agreement() -> tuple[str, list[dict[str, Any]]]:
    """A new agreement with enough text that storing it needs new database pages."""
    text = "Minutes of the steering committee. " * 100
    events = [signed(str(uuid.uuid4()))] + [
        {**note(str(uuid.uuid4())), "data": {"text": text}} for _ in range(20)
    ]
    return f"agreement-{uuid.uuid4().hex[:12]}", events


def _assert_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert int(answer.headers["retry-after"]) >= 1
    body = answer.json()
    assert body["status"] == 503 and body["type"].endswith("store-unavailable"), body


async def _assert_intact(service: Service, path: Path | None, absent: list[str]) -> None:
    """The log verifies, SQLite's own check passes, and no refused event was stored."""
    events = await read_everything(service.store)
    assert verify_chain(events).ok
    assert not {e.event_id for e in events} & set(absent)
    if path is not None:
        with sqlite3.connect(path) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        connection.close()


async def _refused_then_recovered(service: Service, path: Path | None, clear: Any) -> None:
    """Under the fault an append is a 503 and stores nothing; once `clear()` has run, the same
    batch (same event ids) is stored as new, and so is the next one."""
    stream_id, events = _agreement()
    _assert_unavailable(await service.append(stream_id, events))
    _assert_unavailable(await service.append(stream_id, events))  # still down, still clean
    await _assert_intact(service, path, [e["event_id"] for e in events])
    cleared = clear()
    if inspect.isawaitable(cleared):
        await cleared
    retried = await service.append(stream_id, events)
    assert retried.status_code == 201, retried.text  # created: none of it was stored before
    following = await service.append(*_agreement())
    assert following.status_code == 201, following.text
    await _assert_intact(service, path, [])
    position = following.json()["to_position"]
    read = await service.client.get(
        "/partnerships", params={"wait_for_position": position}, headers=service.headers
    )
    assert read.status_code == 200 and read.json()["position"] >= position, read.text


async def test_a_full_disk_is_503_and_appends_resume_when_space_returns(
    service: Service, faults: Faults, sqlite_path: Path
) -> None:
    assert (await service.append(*_agreement())).status_code == 201
    faults.full = True

    def clear() -> None:
        faults.full = False

    await _refused_then_recovered(service, sqlite_path, clear)


async def test_a_read_only_database_is_503_and_appends_resume_when_writable(
    service: Service, faults: Faults, sqlite_path: Path
) -> None:
    assert (await service.append(*_agreement())).status_code == 201
    faults.read_only = True

    def clear() -> None:
        faults.read_only = False

    await _refused_then_recovered(service, sqlite_path, clear)


_LOCKER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
"""


async def test_a_database_locked_by_another_process_is_503_reads_still_work(
    service: Service, sqlite_path: Path
) -> None:
    stream_id, events = _agreement()
    stored = await service.append(stream_id, events)
    assert stored.status_code == 201
    locker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _LOCKER,
        str(sqlite_path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert locker.stdin is not None and locker.stdout is not None
    try:
        async with asyncio.timeout(15):
            assert (await locker.stdout.readline()).strip() == b"locked"
        # Reads go on while the other process holds the write lock (WAL readers never wait).
        for path in (f"/streams/{stream_id}/events", "/partnerships", "/events", "/health"):
            read = await service.client.get(path, headers=service.headers)
            assert read.status_code == 200, (path, read.text)
        assert read.json()["head"] == stored.json()["to_position"]

        async def release() -> None:
            assert locker.stdin is not None
            locker.stdin.write(b"\n")
            await locker.stdin.drain()
            async with asyncio.timeout(10):
                assert await locker.wait() == 0

        await _refused_then_recovered(service, sqlite_path, release)
    finally:
        if locker.returncode is None:
            locker.kill()
        await locker.communicate()


@pytest.mark.postgres
async def test_postgres_connections_dropped_under_the_service_then_it_recovers() -> None:
    async with fresh_postgres() as url:
        async for service in _service(url):
            assert (await service.append(*_agreement())).status_code == 201
            name = url.rsplit("/", 1)[1]
            killed = await _terminate_backends(name)
            assert killed >= 1
            stream_id, events = _agreement()
            first = await service.append(stream_id, events)
            if first.status_code != 201:  # the failure may show once; it must be a clean 503
                _assert_unavailable(first)
                await _assert_intact(service, None, [e["event_id"] for e in events])
                retried = await service.append(stream_id, events)
                assert retried.status_code == 201, retried.text
            # every connection it had is gone again, including the idle ones in the pool
            await _terminate_backends(name)
            answers = [await service.append(*_agreement()) for _ in range(3)]
            for answer in answers[:1]:
                if answer.status_code != 201:
                    _assert_unavailable(answer)
            assert [a.status_code for a in answers[1:]] == [201, 201]
            await _assert_intact(service, None, [])
            position = answers[-1].json()["to_position"]
            read = await service.client.get(
                "/partnerships", params={"wait_for_position": position}, headers=service.headers
            )
            assert read.status_code == 200 and read.json()["position"] >= position, read.text


async def _terminate_backends(database: str) -> int:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        rows = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await admin.close()
    return len(rows)


@pytest.mark.postgres
async def test_a_read_cancelled_while_postgres_makes_it_wait_ends_cancelled() -> None:
    """A task cancelled (or timed out) while its statement waits on the server ends with
    CancelledError (TimeoutError under `asyncio.timeout`), not with "the database is
    unavailable": shutdowns, task groups and timeouts rely on it. The statement is made to wait
    by a lock another connection holds, so the cancellation lands while it waits."""
    async with fresh_postgres() as url:
        store = await open_store(url)
        name = url.rsplit("/", 1)[1]
        before = await store.read_all(after=0, limit=10)
        locker = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            async with locker.transaction():
                await locker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
                reading = asyncio.create_task(store.read_all(after=0, limit=10))
                await _until_a_statement_waits_for_a_lock(name)
                reading.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await reading
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.2):
                        await store.read_all(after=0, limit=10)
            assert await store.read_all(after=0, limit=10) == before  # the store reads again
        finally:
            await locker.close()
            await store.close()


async def _until_a_statement_waits_for_a_lock(database: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        async with asyncio.timeout(30):
            while not await admin.fetchval(  # noqa: ASYNC110 (a poll of the server's state)
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = $1 AND wait_event_type = 'Lock'",
                database,
            ):
                await asyncio.sleep(0.01)
    finally:
        await admin.close()
