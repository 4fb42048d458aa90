"""Online backups: a consistent copy of the register, taken while the service writes.

SQLite: the sqlite3 online backup API on a separate connection, all pages in one step, so the
copy is one read transaction's snapshot (in WAL mode that never blocks the writer). It is
written beside the destination, checked with `PRAGMA integrity_check`, fsynced and renamed
over it: a backup that exists is whole. The copy is itself a SQLite database: to restore,
stop the service, put the file in place of the database (remove any `-wal`/`-shm` left beside
the old one) and start the service on it.

PostgreSQL: `pg_dump --format=custom` run on a snapshot exported from a REPEATABLE READ
transaction, so the head reported is the head in the dump. Restore with
`createdb NEW && pg_restore --no-owner --dbname=NEW FILE`.

Either way the copy holds the log with its stored Merkle tree (the same snapshot, so the two
agree), the token table (as events) and the projections with their checkpoints, so a server
started on it serves at once, proofs included. The audit signing key is a file, not
part of the database: back it up separately.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.engine import URL, make_url

from events.database import create_engine
from events.schema import events as events_table

PRIVATE_FILE_MODE = 0o600
"""Backups and exports are the register itself: nobody but their owner may read them."""

PG_DUMP_MISSING = "pg_dump not found: install the PostgreSQL client tools (postgresql-client)"


class BackupFailed(Exception):
    """The copy could not be made; nothing was written at the destination."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    method: str
    """"sqlite-backup-api" or "pg_dump"."""
    head: int
    """The last log position in the copy (0 for an empty log)."""
    head_hash: str | None
    """That event's hash: compare it with `agreements verify` on the restored copy."""


async def backup(database_url: str, destination: Path) -> BackupResult:
    """Copy the database at `database_url` to `destination` (a file), consistently, while it
    may be in use."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise BackupFailed("an in-memory SQLite database cannot be backed up")
        return await asyncio.to_thread(_sqlite_backup, Path(url.database), destination)
    if backend == "postgresql":
        return await _postgres_backup(database_url, url, destination)
    raise BackupFailed(f"unsupported database {backend!r}")


def _partial(destination: Path) -> Path:
    """Where the copy is written before it is renamed over `destination`: created empty and
    readable by its owner only, since it holds everything the register does."""
    partial = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    return partial


def _sqlite_backup(source: Path, destination: Path) -> BackupResult:
    if not source.exists():
        raise BackupFailed(f"no database at {source}")
    partial = _partial(destination)
    try:
        with (
            contextlib.closing(sqlite3.connect(source, timeout=30)) as origin,
            contextlib.closing(sqlite3.connect(partial)) as copy,
        ):
            origin.backup(copy)  # pages=-1: every page in one step, one snapshot
            check = copy.execute("PRAGMA integrity_check").fetchall()
            if check != [("ok",)]:
                raise BackupFailed(f"the copy failed its integrity check: {check}")
            row = copy.execute(
                "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
            ).fetchone()
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        _durable_rename(partial, destination)
    except sqlite3.Error as error:
        raise BackupFailed(f"SQLite backup failed: {error}") from error
    finally:
        partial.unlink(missing_ok=True)
    head, head_hash = (row[0], row[1]) if row else (0, None)
    return BackupResult(destination, "sqlite-backup-api", head, head_hash)


def _durable_rename(partial: Path, destination: Path) -> None:
    with partial.open("rb") as written:
        os.fchmod(written.fileno(), PRIVATE_FILE_MODE)  # whatever wrote it, whatever the umask
        os.fsync(written.fileno())
    os.replace(partial, destination)
    directory = os.open(destination.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


async def _postgres_backup(database_url: str, url: URL, destination: Path) -> BackupResult:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupFailed(PG_DUMP_MISSING)
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    partial = _partial(destination)
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="REPEATABLE READ")
            async with connection.begin():
                snapshot = (await connection.execute(text("SELECT pg_export_snapshot()"))).scalar()
                head = (
                    await connection.execute(
                        select(events_table.c.position, events_table.c.hash)
                        .order_by(events_table.c.position.desc())
                        .limit(1)
                    )
                ).first()
                # The exported snapshot lives as long as this transaction: dump inside it.
                await _run_pg_dump(pg_dump, url, str(snapshot), partial)
                await connection.execute(select(func.now()))  # still open: the snapshot held
        await asyncio.to_thread(_durable_rename, partial, destination)
    finally:
        partial.unlink(missing_ok=True)
        await engine.dispose()
    position, head_hash = (head[0], head[1]) if head else (0, None)
    return BackupResult(destination, "pg_dump", position, head_hash)


async def _run_pg_dump(pg_dump: str, url: URL, snapshot: str, output: Path) -> None:
    libpq = url.set(drivername="postgresql", password=None)
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)  # not on the command line, where ps shows it
    process = await asyncio.create_subprocess_exec(
        pg_dump,
        "--format=custom",
        f"--snapshot={snapshot}",
        f"--file={output}",
        f"--dbname={libpq.render_as_string(hide_password=False)}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    _, errors = await process.communicate()
    if process.returncode != 0:
        raise BackupFailed(f"pg_dump failed ({process.returncode}): {errors.decode().strip()}")
