"""The `agreements` command line: serve, tokens, demo data, rebuild, export, import,
verify-document, people, erase.

Every command takes `--database-url` and otherwise honours `AGREEMENTS_DATABASE_URL`
(default: `agreements.db` here). Commands other than `serve` open the store, do one thing and
close it; they are safe to run while a server uses the same database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from typing import IO, Any

import msgspec

from events.backup import PRIVATE_FILE_MODE
from events.catalogue import EventData, encode_data
from events.envelope import AppendResult, Metadata, Proposed
from events.export import write_jsonl
from events.store import EventStore, open_store
from service.audit_commands import add_audit_commands
from service.backup_commands import add_backup_commands
from service.calendar_key_commands import add_calendar_key_commands
from service.cli_actor import cli_metadata
from service.document_commands import add_document_commands
from service.people_commands import add_people_commands
from service.replay_commands import add_replay_command
from service.settings import Settings
from service.tokens import ROLES, TokenTable

_EXPORT_PAGE = 5000

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.from_env(database_url=args.database_url)
    if args.command == "serve":
        return serve(args, settings)
    command: Command = args.run
    try:
        return asyncio.run(command(args, settings))
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url",
        help="SQLAlchemy URL (default: $AGREEMENTS_DATABASE_URL, else sqlite in ./agreements.db)",
    )
    parser = argparse.ArgumentParser(
        prog="agreements", description="Event-sourced register of international agreements."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_ = commands.add_parser("serve", parents=[common], help="run the HTTP service")
    serve_.add_argument("--host", default="127.0.0.1")
    serve_.add_argument("--port", type=int, default=8000)
    serve_.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve_.add_argument("--demo", action="store_true", help="record the demo data first")

    token = commands.add_parser("token", help="issue, revoke and list API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_commands.add_parser("create", parents=[common], help="issue a token")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True, help="who will use it (recorded as actor)")
    create.set_defaults(run=token_create)
    revoke = token_commands.add_parser("revoke", parents=[common], help="revoke a token")
    revoke.add_argument("token_id")
    revoke.add_argument("--reason")
    revoke.set_defaults(run=token_revoke)
    listing = token_commands.add_parser("list", parents=[common], help="list tokens")
    listing.set_defaults(run=token_list)

    demo_ = commands.add_parser("demo", parents=[common], help="record the seed press release")
    demo_.set_defaults(run=demo)
    rebuild_ = commands.add_parser("rebuild", parents=[common], help="rebuild all projections")
    rebuild_.set_defaults(run=rebuild)
    export_ = commands.add_parser("export", parents=[common], help="the log as JSON Lines")
    export_.add_argument("--after", type=int, default=0, help="only events after this position")
    export_.add_argument("--output", "-o", help="file to write (default: standard output)")
    export_.set_defaults(run=export)
    import_ = commands.add_parser(
        "import",
        parents=[common],
        help="record agreements, owners and follow-ups from a .csv or .xlsx sheet",
        description="Columns: see the README, 'Importing a spreadsheet'. Exit status 1 when "
        "rows were refused, 2 when the file cannot be read.",
    )
    import_.add_argument("file", help="a .csv (UTF-8) or .xlsx file, one row per follow-up")
    import_.add_argument(
        "--dry-run", action="store_true", help="check every row and record nothing"
    )
    import_.set_defaults(run=import_file)
    add_replay_command(commands, common)
    add_audit_commands(commands)
    add_backup_commands(commands)
    add_document_commands(commands, common)
    add_people_commands(commands, common)
    add_calendar_key_commands(commands, common)
    return parser


@contextlib.asynccontextmanager
async def _store(settings: Settings, *, read_only: bool = False) -> AsyncIterator[EventStore]:
    store = await open_store(
        settings.database_url,
        read_only=read_only,
        max_batch_events=settings.max_events_per_batch,
        document_limits=settings.document_limits(),
        **settings.engine_settings(),
    )
    try:
        yield store
    finally:
        await store.close()


# -- serve -------------------------------------------------------------------------------


def serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from service import connections
    from service.app import create_app

    asyncio.run(_prepare(settings, demo_first=args.demo))
    options = connections.uvicorn_options(settings)
    if args.workers > 1:
        # Workers build their own app from the environment; the database is ready and the
        # first admin token (if any) was printed above, so no worker races to create one.
        os.environ["AGREEMENTS_DATABASE_URL"] = settings.database_url
        uvicorn.run(
            "service.app:app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            **options,
        )
    else:
        connections.configure(settings)
        uvicorn.run(create_app(settings), host=args.host, port=args.port, **options)
    return 0


async def _prepare(settings: Settings, *, demo_first: bool) -> None:
    """Migrate, optionally record the demo, and create the first admin token if none exists."""
    async with _store(settings) as store:
        if demo_first:
            _print_demo(await record_demo(store))
        if settings.bootstrap_admin_token:
            tokens = TokenTable(store)
            issued = await tokens.bootstrap(metadata=cli_metadata())
            if issued is not None:
                settings.announce_token(issued.secret)


# -- tokens ------------------------------------------------------------------------------


async def token_create(args: argparse.Namespace, settings: Settings) -> int:
    async with _store(settings) as store:
        issued = await TokenTable(store).issue(
            name=args.name, role=args.role, metadata=cli_metadata()
        )
    print(f"token {issued.token_id} ({issued.role}, {issued.name}); it is shown only once:")
    print(issued.secret)
    return 0


async def token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from service.tokens import UnknownToken

    async with _store(settings) as store:
        try:
            await TokenTable(store).revoke(
                args.token_id, metadata=cli_metadata(), reason=args.reason
            )
        except UnknownToken as error:
            print(f"agreements: {error}", file=sys.stderr)
            return 1
    print(f"token {args.token_id} revoked")
    return 0


async def token_list(args: argparse.Namespace, settings: Settings) -> int:
    async with _store(settings) as store:
        tokens = TokenTable(store)
        await tokens.refresh()
    for t in tokens.tokens():
        state = f"revoked {t.revoked_at}" if t.revoked_at else "active"
        print(f"{t.token_id}  {t.role:<8}  {t.name}  issued {t.issued_at}  {state}")
    return 0


# -- demo --------------------------------------------------------------------------------


async def record_demo(store: EventStore) -> list[AppendResult]:
    """Record `service.demo.SEED` through the store, validated exactly as API bodies are
    (the data is encoded to JSON and decoded strictly). The seed's event ids are fixed, so a
    second run is an idempotent retry: nothing new is stored."""
    from service.demo import DEMO_ACTOR, SEED

    metadata = Metadata(actor=DEMO_ACTOR)
    results = []
    for stream_id, events in SEED:
        as_json = [_as_json(e) for e in events]
        results.append(await store.append(stream_id, as_json, metadata=metadata))
    return results


def _as_json(event: Proposed) -> Proposed:
    if isinstance(event.data, EventData):
        return msgspec.structs.replace(event, data=encode_data(event.data))
    return event


def _print_demo(results: list[AppendResult]) -> None:
    for r in results:
        what = "recorded" if r.created else "already recorded"
        count = r.to_version - r.from_version + 1
        print(
            f"{what}: {r.stream_id} versions {r.from_version}..{r.to_version}"
            f" ({count} events, positions {r.from_position}..{r.to_position})"
        )


async def demo(args: argparse.Namespace, settings: Settings) -> int:
    async with _store(settings) as store:
        _print_demo(await record_demo(store))
    return 0


# -- import ------------------------------------------------------------------------------


async def import_file(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from service.imports import SheetUnreadable, describe, import_sheet, read_sheet

    try:
        sheet = read_sheet(Path(args.file))
    except (SheetUnreadable, OSError, UnicodeDecodeError) as error:
        print(f"import: {error}", file=sys.stderr)
        return 2
    if sheet.ignored:
        print(f"ignored column(s): {', '.join(sheet.ignored)}")
    metadata = msgspec.structs.replace(cli_metadata(), user_agent="agreements-cli import")
    async with _store(settings) as store:
        outcomes = await import_sheet(
            store,
            sheet,
            metadata=metadata,
            dry_run=args.dry_run,
            time_zone=settings.time_zone,
            now=settings.clock(),
        )
    for line in describe(outcomes, dry_run=args.dry_run):
        print(line)
    return 1 if any(o.refused is not None for o in outcomes) else 0


# -- rebuild -----------------------------------------------------------------------------


async def rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from projections.setup import prepare_tables
    from service.app import default_projections

    async with _store(settings) as store:
        projections = default_projections(store, settings)
        await prepare_tables(store.engine)  # the tables exist even if no server ever ran here
        with _progress_bar() as progress:
            position = await projections.rebuild(progress=progress)
    print(f"rebuilt all projections up to position {position}", file=sys.stderr)
    return 0


@contextlib.contextmanager
def _progress_bar() -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on a terminal; nothing when output is piped or logged."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task("replaying the log", total=None)

        def advance(position: int, head: int) -> None:
            bar.update(task, completed=position, total=head)

        yield advance


# -- export ------------------------------------------------------------------------------


async def export(args: argparse.Namespace, settings: Settings) -> int:
    async with _store(settings, read_only=True) as store:
        if args.output is None:
            count = await export_log(store, sys.stdout.buffer, after=args.after)
        else:
            output = await asyncio.to_thread(_private_file, args.output)
            with output:
                count = await export_log(store, output, after=args.after)
    print(f"exported {count} events", file=sys.stderr)
    return 0


def _private_file(path: str) -> IO[bytes]:
    """`path` opened for writing, readable by its owner only (an export is the whole log)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    os.fchmod(descriptor, PRIVATE_FILE_MODE)  # an existing file keeps its mode otherwise
    return os.fdopen(descriptor, "wb")


async def export_log(store: EventStore, output: IO[bytes], *, after: int = 0) -> int:
    """Write every event after `after`, up to the head at the start, one JSON line each."""
    head = await store.head()
    count = 0
    while after < head:
        page = await store.read_all(after=after, limit=_EXPORT_PAGE, until=head)
        if not page:
            break
        count += write_jsonl(page, output)
        after = page[-1].position
    output.flush()
    return count
