"""Instances that start together on a fresh database and migrate it (issue 11).

tests/test_race.py starts six processes on one fresh file; it failed once in CI on SQLite with
"table merkle_nodes already exists": one process ran migration 0002 against a file another had
already brought to the newest schema. The cause: Alembic's SQLite dialect declares no
transactional DDL, so unless it is handed a connection already inside a transaction it commits
after every migration, letting go of the write lock between them while it keeps the schema
version it read at the start. An instance waiting for the lock got it in such a gap, migrated
the rest, and the first then carried on from its stale version.

Whether a waiting instance wins a gap of a few statements is luck (six processes released
together on a fresh file: about a third of rounds; in CI it showed once). Here a hook widens
the gap to the whole of another instance's migration: whenever the migrating connection has
committed and goes on, another instance migrates the database first. A migration that holds
the lock from its first read of the schema version to its last write never gives it that
chance, and both instances start.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import event, text

from events import migrate as migrate_module
from events.database import create_engine
from events.envelope import Metadata
from events.migrate import migrate
from events.store import open_store
from tests._databases import BACKENDS, database
from tests._race_worker import batch, stream_name

_HEAD = ScriptDirectory(str(Path(migrate_module.__file__).parent / "migrations")).get_current_head()


_ROOT = Path(__file__).resolve().parent.parent


def _another_instance_starts(url: str, directory: Path) -> None:
    """Open (and so migrate) the store in another process and wait for it to finish. A
    process, not a thread: Alembic's `context` and `op` are process-wide."""
    (directory / "go").touch()
    finished = subprocess.run(
        [sys.executable, "-m", "tests._race_worker", "open", url, str(directory), "1"],
        cwd=_ROOT,
        env={**os.environ, "PYTHONPATH": str(_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr


@pytest.mark.parametrize("backend", BACKENDS)
async def test_an_instance_migrating_whenever_another_lets_go_leaves_both_started(
    backend: str, tmp_path: Path
) -> None:
    async with database(backend, tmp_path) as url:
        engine = create_engine(url)
        gaps: list[str] = []
        committed = False
        migrating = True

        def on_commit(_connection: Any) -> None:
            nonlocal committed
            committed = True

        def before_statement(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
            # SQLite's BEGIN (IMMEDIATE) is a statement of its own; PostgreSQL's begin is
            # implicit, and its first statement takes the advisory lock. Either way the
            # connection holds no lock yet: another instance starts now, and this one waits
            # for it to finish before it goes on.
            nonlocal committed
            if committed and migrating:
                committed = False
                gaps.append(statement)
                _another_instance_starts(url, tmp_path)

        event.listen(engine.sync_engine, "commit", on_commit)
        event.listen(engine.sync_engine, "before_cursor_execute", before_statement)
        try:
            await migrate(engine)
            migrating = False
            async with engine.connect() as connection:
                version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        finally:
            await engine.dispose()
        assert version == _HEAD
        assert gaps == []  # the migration never let go of its lock before it was done

        store = await open_store(url)  # a third instance starts on the migrated database
        try:
            events = batch(0, 2, random.Random(1), "start")
            result = await store.append(stream_name(0), events, metadata=Metadata(actor="t"))
        finally:
            await store.close()
    assert (result.from_position, result.to_position) == (1, 2)
