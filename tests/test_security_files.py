"""Backups and exports hold the whole register: they are created readable by their owner only,
whatever the umask, and an export over an existing world-readable file takes that mode too."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from events.backup import backup
from service.cli import main
from tests._databases import fresh_postgres
from tests._server import backlog


@pytest.fixture(autouse=True)
def _open_umask() -> Iterator[None]:
    """The usual umask (022) would make new files world-readable."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_sqlite_backup_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'agreements.db'}"
    await backlog(url, 2)
    copy = tmp_path / "copy.db"
    await backup(url, copy)
    assert oct(_mode(copy)) == oct(0o600)


@pytest.mark.postgres
async def test_a_postgres_backup_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump not installed")
    dump = tmp_path / "agreements.dump"
    async with fresh_postgres() as url:
        await backlog(url, 2)
        await backup(url, dump)
    assert oct(_mode(dump)) == oct(0o600)


async def test_an_export_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'agreements.db'}"
    await backlog(url, 2)
    fresh, existing = tmp_path / "fresh.jsonl", tmp_path / "existing.jsonl"
    existing.write_bytes(b"")
    existing.chmod(0o644)
    for output in (fresh, existing):
        assert await _export(url, output) == 0
        assert output.read_bytes().count(b"\n") == 20
        assert oct(_mode(output)) == oct(0o600)


async def _export(url: str, output: Path) -> int:
    return await asyncio.to_thread(main, ["export", "--database-url", url, "--output", str(output)])
