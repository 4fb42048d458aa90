"""kill -9 of the real server under load, and what must survive it (issue 5, crash safety).

The server runs as its own process (`python -m service serve`); 16 httpx clients append
batches with event ids they chose, recording every answer. The process is killed with SIGKILL
(no shutdown code runs) at three kinds of moment: while batches are being appended, while the
projection runner is working through a large backlog, and while `agreements rebuild` replays
the log. After a restart: every acknowledged event is stored exactly once at the positions its
answer named, no batch is half-stored, the hash chain verifies, and the projections catch up to
exactly what a rebuild from the log gives (tests._server.check_log and
projections_equal_rebuild).

"Acknowledged" means "on disk" because SQLite runs in WAL mode with `synchronous=FULL` (see
events.database): the WAL is fsynced before the commit returns, and the HTTP answer is sent
only after the commit.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from events.store import open_store
from projections import positions
from tests._databases import BACKENDS, database
from tests._server import (
    ROOT,
    Batch,
    append_load,
    backlog,
    check_log,
    projections_equal_rebuild,
    run_cli,
    start_server,
    until_acknowledged,
    wait_caught_up,
)

pytestmark = [pytest.mark.slow, pytest.mark.serial]

_MAX_ROUNDS = 8
"""Kills during appends: at least three, more until one has caught appends unanswered."""
_BACKLOG_AGREEMENTS = 4000
"""x 10 events: a backlog the projection runner needs a few seconds for."""


@pytest.fixture(scope="module")
def backlogged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite register holding the backlog and no projections yet (copied per test)."""
    path = tmp_path_factory.mktemp("backlog") / "agreements.db"
    head = asyncio.run(backlog(f"sqlite+aiosqlite:///{path}", _BACKLOG_AGREEMENTS))
    assert head == _BACKLOG_AGREEMENTS * 10
    return path


def _copy(template: Path, directory: Path) -> tuple[Path, str]:
    path = directory / "agreements.db"
    shutil.copyfile(template, path)  # closed cleanly: the WAL is checkpointed, one file
    return path, f"sqlite+aiosqlite:///{path}"


def _assert_only_acknowledged_or_lost(batches: list[Batch]) -> None:
    """Every append under the kill was either acknowledged or lost with its connection:
    nothing was refused or failed on the way."""
    assert {b.status for b in batches} <= {None, 200, 201}, [
        b for b in batches if b.status not in (None, 200, 201)
    ]


def _caught_in_flight(batches: list[Batch]) -> bool:
    """Whether the kill left some append unanswered.

    Not a given for any one kill: group commit answers the clients together, and their
    answers can all be on the way back (in the clients' socket buffers) at the instant of the
    kill. So a test that needs a kill among unanswered appends kills again until one is."""
    return any(b.status is None for b in batches)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_kill_9_during_appends_keeps_each_acknowledged_event_exactly_once(
    backend: str, tmp_path: Path
) -> None:
    async with database(backend, tmp_path) as url:
        sent: list[Batch] = []
        server = start_server(url, tmp_path)
        token = server.token
        try:
            caught = 0
            for round_ in range(_MAX_ROUNDS):
                async with append_load(server, clients=16, seed=round_) as batches:
                    await until_acknowledged(batches, 30)
                    await asyncio.sleep(random.uniform(0.0, 0.5))
                    server.kill()
                _assert_only_acknowledged_or_lost(batches)
                caught += _caught_in_flight(batches)
                sent.extend(batches)
                server = start_server(url, tmp_path, token=token)
                if round_ >= 2 and caught:
                    break
            assert caught, f"none of {_MAX_ROUNDS} kills caught an append in flight"
            await wait_caught_up(server)
            server.stop()
        finally:
            server.kill()
        assert sum(b.acknowledged for b in sent) >= 90
        await check_log(url, sent)
        await projections_equal_rebuild(url)


async def _checkpoint(url: str) -> int:
    store = await open_store(url)
    try:
        async with store.engine.connect() as connection:
            return await positions.reached(connection)
    finally:
        await store.close()


async def test_kill_9_while_the_projection_runner_works_through_a_backlog(
    backlogged: Path, tmp_path: Path
) -> None:
    _, url = _copy(backlogged, tmp_path)
    head = _BACKLOG_AGREEMENTS * 10
    # Small projection batches: the runner works through the backlog in hundreds of
    # transactions, so the kill lands part-way however fast the machine is.
    server = start_server(url, tmp_path, env={"AGREEMENTS_PROJECTION_BATCH_SIZE": "20"})
    token = server.token
    try:
        async with append_load(server, clients=8) as batches:
            await _until_projections_partway(server.base_url, head)
            server.kill()
        _assert_only_acknowledged_or_lost(batches)
        applied = await _checkpoint(url)
        assert 0 < applied < head, "the kill did not catch the runner part-way"

        server = start_server(url, tmp_path, token=token)
        async with append_load(server, clients=4, seed=1) as more:
            await until_acknowledged(more, 20)
        await wait_caught_up(server)
        server.stop()
    finally:
        server.kill()
    await check_log(url, batches + more)
    await projections_equal_rebuild(url)


async def _until_projections_partway(base_url: str, head: int) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=base_url) as client, asyncio.timeout(30):
        while True:
            applied = (await client.get("/health", timeout=5)).json()["projections"]["position"]
            if 0 < applied < head:
                return
            assert applied < head, "the runner finished before the test could kill it"
            await asyncio.sleep(0.01)


def _shadow_tables(path: Path) -> list[str]:
    with sqlite3.connect(path, timeout=5) as connection:
        rows = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%rebuild%'"
        ).fetchall()
    connection.close()
    return [name for (name,) in rows]


async def test_kill_9_during_a_rebuild_leaves_live_projections_intact(
    backlogged: Path, tmp_path: Path
) -> None:
    path, url = _copy(backlogged, tmp_path)
    server = start_server(url, tmp_path)
    token = server.token
    rebuilding: asyncio.subprocess.Process | None = None
    try:
        await wait_caught_up(server)
        async with append_load(server, clients=8) as batches:
            await until_acknowledged(batches, 10)
            rebuilding = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "service", "rebuild", "--database-url", url),
                cwd=ROOT,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            async with asyncio.timeout(30):
                while not await asyncio.to_thread(_shadow_tables, path):
                    assert rebuilding.returncode is None, "the rebuild ended before it was killed"
                    await asyncio.sleep(0.01)
            await asyncio.sleep(random.uniform(0.1, 0.4))
            assert rebuilding.returncode is None, "the rebuild ended before it was killed"
            rebuilding.kill()
            server.kill()
        await rebuilding.wait()
        _assert_only_acknowledged_or_lost(batches)

        server = start_server(url, tmp_path, token=token)
        async with append_load(server, clients=4, seed=1) as more:
            await until_acknowledged(more, 20)
        await wait_caught_up(server)
        # A rebuild after the crash works, and no shadow table of the killed one is left.
        finished = await asyncio.to_thread(run_cli, "rebuild", "--database-url", url)
        assert finished.returncode == 0, finished.stderr
        assert not await asyncio.to_thread(_shadow_tables, path)
        server.stop()
    finally:
        server.kill()
        if rebuilding is not None and rebuilding.returncode is None:
            rebuilding.kill()
            await rebuilding.wait()
    await check_log(url, batches + more)
    await projections_equal_rebuild(url)
