"""Several real `agreements serve` processes on one database, and what it takes to hurt them.

Builds on `tests._server` (which starts one server process):
- `serving(...)` starts several instances together, each with an HTTP client; `serve_workers`
  starts one `serve --workers N`.
- `projection_applier(...)` finds which instance holds the projection lock: PostgreSQL knows the
  backend holding the advisory lock and its client port; Linux's /proc knows which process
  owns that port. Nothing is added to the API for it.
- `DatabaseProxy` stands between a server and PostgreSQL and can cut it off (every connection
  dropped, new ones refused), freeze it (packets silently dropped) and let it back, as a
  database restart or a network failure would.
- `terminate_backends(...)` ends every service connection to one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from events.envelope import Metadata
from events.store import open_store
from projections._lease import APPLY_LOCK_KEY
from service.tokens import TokenTable
from tests._databases import ADMIN_DSN
from tests._server import ROOT, Server, free_port, start_server

STARTUP_SECONDS = 120.0  # a bound on a busy machine, not a target: it returns once up
REQUEST_SECONDS = 30.0
"""Client-side ceiling on one request: a hung request fails the test instead of hanging it."""


@dataclass
class Instance:
    """One `agreements serve` process and an HTTP client for it (with the token)."""

    name: str
    server: Server
    client: httpx.AsyncClient = field(repr=False)

    @property
    def pid(self) -> int:
        return self.server.pid

    def log(self) -> str:
        """The process's output so far (for failure messages)."""
        return self.server.output()[-4000:]

    def kill(self) -> None:
        """`kill -9`: no shutdown, no goodbye to the database."""
        self.server.kill()

    async def stop(self) -> None:
        """A graceful stop (SIGTERM), killing it if it does not exit in time."""
        await self.client.aclose()
        try:
            await asyncio.to_thread(self.server.terminate)
        except subprocess.TimeoutExpired:
            self.kill()


def _client(base_url: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=REQUEST_SECONDS
    )


def _only(env: Mapping[str, str] | None) -> dict[str, str]:
    """The test's settings and nothing leaking from the caller's `AGREEMENTS_*` variables."""
    return {**{k: "" for k in os.environ if k.startswith("AGREEMENTS_")}, **(env or {})}


async def issue_token(database_url: str, role: str = "admin") -> str:
    """A token for the tests (migrating a fresh database on the way), so that instances
    started together need not race to print the first admin token."""
    store = await open_store(database_url)
    try:
        issued = await TokenTable(store).issue(
            name=f"test {role}",
            role=role,  # type: ignore[arg-type]
            metadata=Metadata(actor="tests"),
        )
    finally:
        await store.close()
    return issued.secret


async def serve(
    name: str,
    database_url: str,
    log_dir: Path,
    *,
    token: str,
    env: Mapping[str, str] | None = None,
) -> Instance:
    """`python -m service serve` (through `tests._server.start_server`), ready to answer."""
    directory = log_dir / name
    directory.mkdir(exist_ok=True)
    server = await asyncio.to_thread(
        start_server, database_url, directory, token=token, env=_only(env), timeout=STARTUP_SECONDS
    )
    return Instance(name, server, _client(server.base_url, token))


async def serve_workers(
    database_url: str,
    log_dir: Path,
    workers: int,
    *,
    token: str,
    env: Mapping[str, str] | None = None,
) -> Instance:
    """`python -m service serve --workers N` (uvicorn's worker processes on one port)."""
    port = free_port()
    log_path = log_dir / f"workers-{port}.log"
    command = [
        *(sys.executable, "-m", "service", "serve", "--workers", str(workers)),
        *("--port", str(port), "--database-url", database_url),
    ]
    process = _spawn(command, {**os.environ, "PYTHONUNBUFFERED": "1", **_only(env)}, log_path)
    server = Server(process, f"http://127.0.0.1:{port}", database_url, token, log_path)
    instance = Instance("workers", server, _client(server.base_url, token))
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            await instance.stop()
            raise AssertionError(f"`serve --workers {workers}` did not start:\n{instance.log()}")
        with contextlib.suppress(httpx.TransportError):
            if (await instance.client.get("/health", timeout=2)).status_code == 200:
                return instance
        await asyncio.sleep(0.1)


def _spawn(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as output:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)


@contextlib.asynccontextmanager
async def serving(
    database_url: str,
    log_dir: Path,
    names: Sequence[str],
    *,
    token: str,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[list[Instance]]:
    """Several instances on one database, started together, stopped (or reaped) at the end."""
    started = await asyncio.gather(
        *(serve(n, database_url, log_dir, token=token, env=env) for n in names),
        return_exceptions=True,
    )
    running = [i for i in started if isinstance(i, Instance)]
    try:
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        yield running
    finally:
        await asyncio.gather(*(i.stop() for i in running))


# -- PostgreSQL's side ---------------------------------------------------------------------


def database_name(database_url: str) -> str:
    name = make_url(database_url).database
    assert name, database_url
    return name


@contextlib.asynccontextmanager
async def admin_connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain asyncpg connection to the test's database (application_name not 'agreements')."""
    dsn = f"{ADMIN_DSN.rsplit('/', 1)[0]}/{database_name(database_url)}"
    connection = await asyncpg.connect(dsn, server_settings={"application_name": "tests"})
    try:
        yield connection
    finally:
        await connection.close()


async def terminate_backends(admin: asyncpg.Connection) -> int:
    """End every connection the service has to this database; returns how many."""
    ended = await admin.fetchval(
        """
        SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
        FROM pg_stat_activity
        WHERE application_name = 'agreements' AND datname = current_database()
          AND pid <> pg_backend_pid()
        """
    )
    return int(ended)


async def applier_port(admin: asyncpg.Connection) -> int | None:
    """The client port of the connection holding the projection lock, if anyone holds it."""
    port = await admin.fetchval(
        """
        SELECT a.client_port
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid::bigint = $1 AND l.objid::bigint = $2 AND l.objsubid = 1
        """,
        APPLY_LOCK_KEY >> 32,
        APPLY_LOCK_KEY & 0xFFFFFFFF,
    )
    return None if port is None else int(port)


async def projection_applier(
    admin: asyncpg.Connection, instances: Sequence[Instance], *, within: float = 10.0
) -> Instance:
    """The instance whose process holds the projection lock (waits until one does)."""
    deadline = time.monotonic() + within
    while True:
        port = await applier_port(admin)
        if port is not None:
            for instance in instances:
                if port in tcp_ports_of(instance.pid):
                    return instance
        if time.monotonic() > deadline:
            raise AssertionError(f"no instance holds the projection lock (port {port})")
        await asyncio.sleep(0.1)


def tcp_ports_of(pid: int) -> set[int]:
    """Local TCP ports of the sockets process `pid` has open (Linux: /proc)."""
    inodes: set[str] = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


# -- cutting the database off --------------------------------------------------------------


class DatabaseProxy:
    """A TCP proxy in front of PostgreSQL that the test can cut and restore."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self._target = (url.host or "127.0.0.1", url.port or 5432)
        self.port = free_port()
        self.url = url.set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )

    async def cut(self) -> None:
        """Drop every open connection and refuse new ones (the database is gone)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def restore(self) -> None:
        """Accept connections again (the database is back)."""
        self._flowing.set()
        if self._server is None:
            await self.start()

    def freeze(self) -> None:
        """Stop passing bytes, keeping every connection open (packets silently dropped):
        the failure that hangs a client without timeouts."""
        self._flowing.clear()

    async def close(self) -> None:
        await self.cut()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            pipe = asyncio.create_task(_pipe(source, sink, self._flowing))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)


async def _pipe(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, flowing: asyncio.Event
) -> None:
    try:
        while chunk := await source.read(65536):
            await flowing.wait()
            sink.write(chunk)
            await sink.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        sink.transport.abort()


def problem_or_success(response: httpx.Response, *success: int) -> dict[str, Any] | None:
    """Assert the response is a success or a proper 503; returns the 503's problem body."""
    if response.status_code in success:
        return None
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) >= 1
    body: dict[str, Any] = response.json()
    assert body["status"] == 503
    return body


# -- requests ------------------------------------------------------------------------------


def signed(agreement_id: str) -> dict[str, Any]:
    """An AgreementSigned event as a client sends it."""
    return {
        "type": "AgreementSigned",
        "occurred_at": "2023-01-05T10:00:00Z",
        "data": {
            "kind": "MoU",
            "title": f"agreement {agreement_id}",
            "parties": [
                {"organisation": "FIT", "signatory": {"name": "Joy Donné"}},
                {"organisation": "JETRO", "signatory": {"name": "Ichiro Soné"}},
            ],
            "signed_on": "2023-01-05",
        },
    }


def opened(n: int) -> dict[str, Any]:
    """A FollowUpOpened event (follow-up `fu-{n}`) as a client sends it."""
    return {
        "type": "FollowUpOpened",
        "occurred_at": "2023-01-06T10:00:00Z",
        "data": {
            "follow_up_id": f"fu-{n}",
            "title": f"follow-up {n}",
            "owner": {"unit": "FIT Tokyo office"},
            "due_on": "2023-06-30",
        },
    }


async def append(instance: Instance, stream_id: str, *events: dict[str, Any]) -> int:
    """Append through `instance`, asserting 201; returns the batch's last position."""
    response = await instance.client.post(
        f"/streams/{stream_id}/events", json={"events": list(events)}
    )
    assert response.status_code == 201, (instance.name, response.text, instance.log())
    position: int = response.json()["to_position"]
    return position


async def partnership(instance: Instance, stream_id: str, wait_for: int) -> dict[str, Any]:
    """The partnership as `instance` serves it, asserting it reflects position `wait_for`."""
    response = await instance.client.get(
        f"/partnerships/{stream_id}", params={"wait_for_position": wait_for}
    )
    assert response.status_code == 200, (instance.name, response.text, instance.log())
    body: dict[str, Any] = response.json()
    assert body["position"] >= wait_for, (instance.name, body, instance.log())
    return body


def follow_up_ids(body: dict[str, Any]) -> list[str]:
    return [f["follow_up_id"] for f in body["partnership"]["follow_ups"]]
