"""`agreements backup`: a consistent online copy that verifies and serves the same projections.

The real server writes under load (16 clients) while the backup runs; the copy must hold a
prefix of the log that ends on a batch boundary (no half batch), verify, and, served by a
second server, answer /partnerships exactly as the original does at the copy's head.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

import events.backup
from events.backup import BackupFailed, backup
from events.store import open_store
from events.verification import verify_chain
from service.backup_commands import add_backup_commands, backup_command
from service.cli import _parser
from tests._databases import ADMIN_DSN, fresh_postgres
from tests._event_strategies import table_rows
from tests._server import (
    Batch,
    Server,
    append_load,
    backlog,
    read_everything,
    run_cli,
    start_server,
    until_acknowledged,
    wait_caught_up,
)


def _sqlite(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def _log(url: str) -> list[Any]:
    store = await open_store(url)
    try:
        return await read_everything(store)
    finally:
        await store.close()


def _assert_whole_batches(copy_ids: set[str], batches: list[Batch]) -> None:
    for batch in batches:
        stored = [i for i in batch.event_ids if i in copy_ids]
        assert stored in ([], batch.event_ids), f"the copy holds part of a batch: {batch}"


async def _until_head_passes(url: str, position: int, writing: asyncio.Task[int]) -> None:
    """Wait (at most 60 s) until an event past `position` has committed."""
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + "/" + url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(dsn)
    try:
        async with asyncio.timeout(60):
            while (await connection.fetchval("SELECT max(position) FROM events")) <= position:
                assert not writing.done() or writing.exception() is None, writing.exception()
                await asyncio.sleep(0.01)
    finally:
        await connection.close()


async def _partnerships(server: Server, **params: int) -> Any:
    async with httpx.AsyncClient(base_url=server.base_url, headers=server.headers()) as client:
        answer = await client.get("/partnerships", params={"limit": 1000, **params}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.slow
@pytest.mark.serial
async def test_a_backup_taken_under_load_verifies_and_serves_the_same_projections(
    tmp_path: Path,
) -> None:
    original_db, copy_db = tmp_path / "agreements.db", tmp_path / "backup" / "copy.db"
    copy_db.parent.mkdir()
    original_url, copy_url = _sqlite(original_db), _sqlite(copy_db)
    await backlog(original_url, 500)  # enough pages that the copy takes a moment
    server = start_server(original_url, tmp_path)
    try:
        async with append_load(server, clients=16) as batches:
            await until_acknowledged(batches, 30)
            assert await backup_command(original_url, copy_db) == 0
            acknowledged_before = sum(b.acknowledged for b in batches)
            await until_acknowledged(batches, acknowledged_before + 30)  # writes went on
        original = await _log(original_url)
        copy = await _log(copy_url)
        assert 0 < len(copy) < len(original)
        assert verify_chain(copy).ok
        assert copy == original[: len(copy)]  # a prefix of the log, byte for byte
        _assert_whole_batches({e.event_id for e in copy}, batches)

        restored = start_server(copy_url, tmp_path, token=server.token)  # tokens come along
        try:
            head = await wait_caught_up(restored)
            assert head == len(copy)
            served = await _partnerships(restored)
        finally:
            restored.stop()
        at_copy_head = await _partnerships(server, as_of_position=head)
        assert served["position"] == at_copy_head["position"] == head
        assert served["partnerships"] == at_copy_head["partnerships"]
        assert len(served["partnerships"]) > 500
    finally:
        server.kill()


async def test_the_copy_is_one_self_contained_file_with_its_projections(tmp_path: Path) -> None:
    url = _sqlite(tmp_path / "agreements.db")
    await backlog(url, 20)
    store = await open_store(url)
    try:
        from projections import Projections

        projections = Projections(store)
        await projections.start()
        assert await projections.wait_for(await store.head(), 10)
        await projections.stop()
        live = await table_rows(store.engine)
        result = await backup(url, tmp_path / "copy.db")
    finally:
        await store.close()
    assert result.head == 200 and result.method == "sqlite-backup-api"
    moved = tmp_path / "elsewhere" / "restored.db"
    moved.parent.mkdir()
    shutil.move(tmp_path / "copy.db", moved)  # no -wal or -shm needed beside it
    assert sorted(p.name for p in moved.parent.iterdir()) == ["restored.db"]
    with sqlite3.connect(moved) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    connection.close()
    restored = await open_store(_sqlite(moved))
    try:
        assert await table_rows(restored.engine) == live
        last = (await restored.read_all(after=199))[0]
        assert (last.position, last.hash) == (result.head, result.head_hash)
    finally:
        await restored.close()


async def test_a_failed_backup_leaves_nothing_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "copy.db"
    with pytest.raises(BackupFailed, match="no database"):
        await backup(_sqlite(tmp_path / "missing.db"), target)
    assert await backup_command(_sqlite(tmp_path / "missing.db"), target) == 1
    assert "backup failed" in capsys.readouterr().err
    assert await asyncio.to_thread(os.listdir, tmp_path) == []


async def test_the_command_line_takes_a_file_and_a_database_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _sqlite(tmp_path / "agreements.db")
    head = await backlog(url, 3)
    parser = argparse.ArgumentParser(prog="agreements")
    add_backup_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["backup", str(tmp_path / "copy.db"), "--database-url", url])
    assert await args.run(args, None) == 0
    out = capsys.readouterr().out
    assert f"head position {head}" in out and "the copy verifies: 30 events" in out


def _cli_has_backup() -> bool:
    try:
        _parser().parse_args(["backup", "x"])
    except SystemExit:
        return False
    return True


@pytest.mark.skipif(
    not _cli_has_backup(), reason="service.cli does not call add_backup_commands yet"
)
async def test_agreements_backup_runs_as_a_command(tmp_path: Path) -> None:
    url = _sqlite(tmp_path / "agreements.db")
    await backlog(url, 3)
    done = await asyncio.to_thread(
        run_cli, "backup", str(tmp_path / "copy.db"), "--database-url", url
    )
    assert done.returncode == 0, done.stderr
    assert "the copy verifies: 30 events" in done.stdout


@pytest.mark.postgres
@pytest.mark.serial
async def test_postgres_backup_under_writes_restores_with_pg_restore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writes start once the backup holds its snapshot, and pg_dump runs only after some of
    them have committed: the interleaving is set by the test, not by how fast each side runs."""
    if shutil.which("pg_restore") is None:
        pytest.skip("pg_restore not installed")
    dump = tmp_path / "agreements.dump"
    async with fresh_postgres() as url, fresh_postgres() as restored_url:
        await backlog(url, 50)
        writes: list[asyncio.Task[int]] = []
        run_pg_dump = events.backup._run_pg_dump

        async def writes_after_the_snapshot(*args: Any) -> None:
            writes.append(asyncio.create_task(backlog(url, 200, prefix="more")))
            await _until_head_passes(url, 500, writes[0])  # committed after the snapshot
            await run_pg_dump(*args)

        monkeypatch.setattr(events.backup, "_run_pg_dump", writes_after_the_snapshot)
        result = await backup(url, dump)
        assert len(writes) == 1
        assert await writes[0] == 2500
        assert result.method == "pg_dump" and result.head == 500
        name = restored_url.rsplit("/", 1)[1]
        dsn = ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
        process = await asyncio.create_subprocess_exec(
            "pg_restore",
            "--no-owner",
            f"--dbname={dsn}",
            str(dump),
            stderr=asyncio.subprocess.PIPE,
        )
        _, errors = await process.communicate()
        assert process.returncode == 0, errors.decode()
        copy = await _log(restored_url)
        original = await _log(url)
        assert len(copy) == result.head < len(original)
        assert copy[-1].hash == result.head_hash
        assert verify_chain(copy).ok and copy == original[: len(copy)]
        connection = await asyncpg.connect(dsn)
        try:
            streams = await connection.fetchval("SELECT count(*) FROM streams")
        finally:
            await connection.close()
        assert streams * 10 == result.head  # whole batches of 10 only
