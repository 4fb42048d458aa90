"""`agreements backup FILE [--database-url URL] [--no-verify]`: a consistent online copy.

Safe while a server writes to the same database (see events.backup for how, per database).
Unless `--no-verify`, a SQLite copy's hash chain is then verified from the copy itself, so a
backup that reports success is one that restores. Exit status: 0 done, 1 the backup or its
verification failed (nothing is left at FILE when the copy itself failed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from events.audit import verify_store
from events.backup import BackupFailed, BackupResult, backup
from events.database import create_engine
from events.database import database_url as resolve_database_url
from events.store import EventStore

OK, FAILED = 0, 1


def add_backup_commands(subparsers: Any) -> None:
    """Register `backup` on the CLI's subparsers; `run` is `async (args, settings) -> int`."""
    backup_ = subparsers.add_parser(
        "backup",
        help="copy the database to FILE, consistently, while the service runs",
        description="Take a consistent online copy: SQLite through its backup API, PostgreSQL "
        "with pg_dump (custom format; restore with pg_restore). The copy holds the log, "
        "the tokens and the projections.",
    )
    backup_.add_argument("file", help="where to write the copy (replaced if it exists)")
    backup_.add_argument(
        "--database-url",
        help="SQLAlchemy URL (default: $AGREEMENTS_DATABASE_URL, else sqlite in ./agreements.db)",
    )
    backup_.add_argument(
        "--no-verify", action="store_true", help="skip verifying the copy's hash chain"
    )
    backup_.set_defaults(run=_run_backup)


async def _run_backup(args: argparse.Namespace, _settings: object = None) -> int:
    return await backup_command(args.database_url, Path(args.file), verify=not args.no_verify)


async def backup_command(database_url: str | None, file: Path, *, verify: bool = True) -> int:
    """What `agreements backup` does; prints a summary, returns the exit status."""
    url = resolve_database_url(database_url)
    try:
        result = await backup(url, file)
    except BackupFailed as error:
        print(f"agreements: backup failed: {error}", file=sys.stderr)
        return FAILED
    print(_summary(result))
    if verify and result.method == "sqlite-backup-api":
        return await _verify_copy(result)
    return OK


def _summary(result: BackupResult) -> str:
    head = f"head position {result.head}"
    if result.head_hash is not None:
        head += f", head hash {result.head_hash}"
    return f"backed up to {result.path} ({result.method}): {head}"


async def _verify_copy(result: BackupResult) -> int:
    store = EventStore(create_engine(f"sqlite+aiosqlite:///{result.path}"), read_only=True)
    try:
        report = await verify_store(store)
    finally:
        await store.engine.dispose()
    if not report.ok or report.head_position != result.head:
        print(
            f"agreements: the copy does not verify: {report.reason or 'head differs'}"
            f" (first broken position {report.first_broken_position})",
            file=sys.stderr,
        )
        return FAILED
    print(f"the copy verifies: {report.checked} events, hash chain intact")
    return OK
