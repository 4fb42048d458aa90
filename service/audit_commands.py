"""The audit commands of the `agreements` command line: verify, checkpoint, public-key,
rotate-key.

    agreements verify [--database-url URL] [--checkpoint C [--public-key K] [--from-checkpoint]]
    agreements verify --file EXPORT [--checkpoint C [--public-key K] [--from-checkpoint]]
    agreements checkpoint [--database-url URL] [--key PATH] [--output FILE]
    agreements public-key [--database-url URL] [--key PATH]
    agreements rotate-key [--database-url URL] [--key PATH] [--reason TEXT]

A checkpoint must be of the log being verified (its origin names the log's id) and signed by
`--public-key`, or, without it, by a key the log recorded as its signing key within the events
the checkpoint covers. The signing key must be the one the log records
(`events.log_identity`); `rotate-key` makes a new one and records the change.

`verify --file` is the auditor's offline check: it needs the export, the checkpoint they kept
and the operator's public key, and nothing of the service. Exit status: 0 the log verifies,
1 it does not (the message names the first broken position), 2 the command was misused or an
input could not be read.

Verifying a database only reads it (no migration, no writer), so it is safe beside a running
server. A whole-log check also recomputes the stored Merkle tree from the events' hashes, so
the checkpoints and proofs the server answers from it match the chain. With
`--from-checkpoint` only the events after the checkpoint are checked, against its head hash:
quick, and it trusts the checkpoint for everything before.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.engine import make_url

from events.audit import signing_key_path, verify_store
from events.database import create_engine
from events.database import database_url as resolve_database_url
from events.envelope import GENESIS_HASH, RecordedEvent
from events.export import ExportFormatError, read_jsonl
from events.log_identity import (
    IDENTITY_STREAM,
    LogIdentity,
    UnknownSigningKey,
    identity_from,
    read_identity,
    rotate_signing_key,
    signing_key,
)
from events.signed_checkpoints import (
    Checkpoint,
    decode_checkpoint,
    encode_checkpoint,
    key_id,
    load_public_key,
    origin_for,
    public_key_pem,
    sign_checkpoint,
    verify_checkpoint,
)
from events.store import EventStore, open_store
from events.tree_audit import verify_stored_tree
from events.verification import (
    VerificationReport,
    origin_problem,
    verify_against_checkpoint,
    verify_chain,
)
from service.cli_actor import cli_metadata

OK, BROKEN, USAGE = 0, 1, 2


class _Usage(Exception):
    """The command cannot run as asked (exit status 2)."""


# --- the commands ----------------------------------------------------------------------------


def verify(
    database_url: str | None,
    file: str | None,
    checkpoint_path: str | None,
    public_key_path: str | None,
    *,
    from_checkpoint: bool = False,
) -> int:
    """Verify a database (default: the configured one) or an export file; see the module doc."""
    return asyncio.run(
        verify_async(
            database_url, file, checkpoint_path, public_key_path, from_checkpoint=from_checkpoint
        )
    )


async def verify_async(
    database_url: str | None,
    file: str | None,
    checkpoint_path: str | None,
    public_key_path: str | None,
    *,
    from_checkpoint: bool = False,
) -> int:
    try:
        if database_url and file:
            raise _Usage("give either --database-url or --file, not both")
        if public_key_path is not None and checkpoint_path is None:
            raise _Usage("--public-key needs --checkpoint")
        if from_checkpoint and checkpoint_path is None:
            raise _Usage("--from-checkpoint needs --checkpoint")
        kept = _read_checkpoint(checkpoint_path) if checkpoint_path else None
        key = _read_public_key(public_key_path) if public_key_path else None
        if kept is not None and key is not None:
            forged = _signature_problem(kept, key)
            if forged is not None:
                return _fail(f"the checkpoint does not hold: {forged}")
        start = kept.size if kept is not None and from_checkpoint else 0
        if file is not None:
            report, identity = _verify_file(Path(file), kept, start)
        else:
            url = resolve_database_url(database_url)
            report, identity = await _verify_database(url, kept, start)
    except _Usage as usage:
        return _usage("verify", str(usage))
    other_log = origin_problem(kept, identity.log_id) if kept is not None else None
    if other_log is not None and identity.log_id is not None:
        # before the scan's result: another log's hashes differ anyway
        return _fail(f"the checkpoint does not hold: {other_log}")
    if not report.ok:
        return _broken(report.first_broken_position, report.reason)
    if other_log is not None:  # a whole log that names no id, and a checkpoint naming one
        return _fail(f"the checkpoint does not hold: {other_log}")
    if kept is not None and key is None:
        key = identity.key(kept.key_id, covering=kept.size)
        if key is None:
            return _fail(
                f"the checkpoint does not hold: it names key {kept.key_id}, which this log "
                "does not record as its signing key (pass the operator's --public-key)"
            )
        forged = _signature_problem(kept, key)
        if forged is not None:
            return _fail(f"the checkpoint does not hold: {forged}")
    if kept is not None and key is not None:
        check = verify_against_checkpoint(report, kept, key)
        if not check.ok:
            return _fail(f"the checkpoint does not hold: {check.reason}")
    print(_describe(report, kept, start))
    return OK


def checkpoint(database_url: str | None, key_path: str | None, output: str | None) -> int:
    """Verify the whole log, then sign a checkpoint of it (to `output`, or standard output)."""
    return asyncio.run(checkpoint_async(database_url, key_path, output))


async def checkpoint_async(
    database_url: str | None, key_path: str | None, output: str | None
) -> int:
    url = resolve_database_url(database_url)
    try:
        key, identity = await _signing_key(url, key_path)
        report, _ = await _verify_database(url, None, 0)
        if not report.ok or report.merkle_root is None:
            return _broken(report.first_broken_position, report.reason, "nothing signed")
    except _Usage as usage:
        return _usage("checkpoint", str(usage))
    except UnknownSigningKey as refused:
        return _usage("checkpoint", str(refused))
    assert identity.log_id is not None  # recorded with the key
    signed = sign_checkpoint(
        key,
        report.head_position,
        report.head_hash,
        report.merkle_root,
        origin=origin_for(identity.log_id),
    )
    _write(output, encode_checkpoint(signed) + b"\n")
    if output not in (None, "-"):
        print(f"checkpoint of {signed.size} events written to {output} (key {signed.key_id})")
    return OK


def public_key(key_path: str | None, *, database_url: str | None = None) -> int:
    """Print the public key (PEM) of the signing key, creating (and recording) the key if the
    log records none."""
    return asyncio.run(public_key_async(key_path, database_url=database_url))


async def public_key_async(key_path: str | None, *, database_url: str | None = None) -> int:
    try:
        key, _ = await _signing_key(resolve_database_url(database_url), key_path)
    except _Usage as usage:
        return _usage("public-key", str(usage))
    except UnknownSigningKey as refused:
        return _usage("public-key", str(refused))
    sys.stdout.write(public_key_pem(key))
    return OK


def rotate_key(
    key_path: str | None, *, database_url: str | None = None, reason: str | None = None
) -> int:
    """Make a new signing key, record it in the log, and put it in the key file's place."""
    return asyncio.run(rotate_key_async(key_path, database_url=database_url, reason=reason))


async def rotate_key_async(
    key_path: str | None, *, database_url: str | None = None, reason: str | None = None
) -> int:
    url = resolve_database_url(database_url)
    path = signing_key_path(url, key_path)
    try:
        async with _writer(url) as store:
            before = (await read_identity(store)).current_key
            key, _ = await rotate_signing_key(store, path, metadata=cli_metadata(), reason=reason)
    except _Usage as usage:
        return _usage("rotate-key", str(usage))
    was = f" (was {before.key_id})" if before is not None else ""
    print(f"the log is now signed with key {key_id(key)}{was}; the key is in {path}")
    return OK


# --- argparse --------------------------------------------------------------------------------


def add_audit_commands(subparsers: Any) -> None:
    """Register `verify`, `checkpoint` and `public-key` on the CLI's subparsers.

    Each sets `run` to an `async (args, settings) -> int` like the CLI's other commands; the
    settings are not needed (the database URL and key come from the arguments and environment).
    """
    verify_ = subparsers.add_parser(
        "verify",
        help="recompute the hash chain of the log or of an export; exit 1 if broken",
        description="Verify the log (or an export file, offline) and name the first broken "
        "position. Exit status 0 ok, 1 broken, 2 usage error.",
    )
    _database_option(verify_)
    verify_.add_argument("--file", help="an export (`agreements export`) to verify offline")
    verify_.add_argument("--checkpoint", help="a signed checkpoint kept by the auditor")
    verify_.add_argument("--public-key", help="the operator's public key (PEM file)")
    verify_.add_argument(
        "--from-checkpoint",
        action="store_true",
        help="check only the events after the checkpoint, against its head hash",
    )
    verify_.set_defaults(run=_run_verify)

    checkpoint_ = subparsers.add_parser(
        "checkpoint",
        help="verify the log and print a signed checkpoint of it",
        description="Verify the whole log, then sign (size, head hash, Merkle root) with the "
        "operator's key. Keep the output outside the system.",
    )
    _database_option(checkpoint_)
    _key_option(checkpoint_)
    checkpoint_.add_argument("--output", "-o", help="file to write (default: standard output)")
    checkpoint_.set_defaults(run=_run_checkpoint)

    public_key_ = subparsers.add_parser(
        "public-key", help="print the public key that checkpoints are signed with"
    )
    _database_option(public_key_)
    _key_option(public_key_)
    public_key_.set_defaults(run=_run_public_key)

    rotate_ = subparsers.add_parser(
        "rotate-key",
        help="make a new signing key and record the change in the log",
        description="Generate a new Ed25519 signing key, record SigningKeyRotated in the log "
        "and write the key to the key file (the previous file is kept as "
        "<name>.<key id>.retired). Checkpoints signed before still verify with the old key.",
    )
    _database_option(rotate_)
    _key_option(rotate_)
    rotate_.add_argument("--reason", help="why the key changes (recorded in the log)")
    rotate_.set_defaults(run=_run_rotate_key)


def _database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL (default: $AGREEMENTS_DATABASE_URL, else sqlite in ./agreements.db)",
    )


def _key_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key",
        help="the Ed25519 signing key, created on first use (default: $AGREEMENTS_SIGNING_KEY, "
        "else agreements-signing-key.pem beside the SQLite database)",
    )


async def _run_verify(args: argparse.Namespace, _settings: object = None) -> int:
    return await verify_async(
        args.database_url,
        args.file,
        args.checkpoint,
        args.public_key,
        from_checkpoint=args.from_checkpoint,
    )


async def _run_checkpoint(args: argparse.Namespace, _settings: object = None) -> int:
    return await checkpoint_async(args.database_url, args.key, args.output)


async def _run_public_key(args: argparse.Namespace, _settings: object = None) -> int:
    return await public_key_async(args.key, database_url=args.database_url)


async def _run_rotate_key(args: argparse.Namespace, _settings: object = None) -> int:
    return await rotate_key_async(args.key, database_url=args.database_url, reason=args.reason)


# --- helpers ---------------------------------------------------------------------------------


def _verify_file(
    path: Path, kept: Checkpoint | None, start: int
) -> tuple[VerificationReport, LogIdentity]:
    identity_events: list[RecordedEvent] = []
    try:
        with path.open("rb") as file:
            events = _after(_noting_identity(read_jsonl(file), identity_events), start)
            report = verify_chain(
                events,
                start_position=start + 1,
                start_prev_hash=kept.head_hash if kept is not None and start else GENESIS_HASH,
                checkpoint=kept,
            )
            return report, identity_from(identity_events)
    except ExportFormatError as error:
        broken = VerificationReport(
            ok=False,
            checked=0,
            head_position=0,
            head_hash="",
            reason=f"{path}: line {error.line} is not an event ({error.detail})",
        )
        return broken, LogIdentity()
    except OSError as error:
        raise _Usage(f"cannot read {path}: {error.strerror or error}") from None


def _noting_identity(
    events: Iterable[RecordedEvent], found: list[RecordedEvent]
) -> Iterator[RecordedEvent]:
    for event in events:
        if event.stream_id == IDENTITY_STREAM:
            found.append(event)
        yield event


def _after(events: Iterable[RecordedEvent], start: int) -> Iterator[RecordedEvent]:
    """Skip what a kept checkpoint already covers (only with --from-checkpoint)."""
    for event in events:
        if event.position > start:
            yield event


async def _verify_database(
    url: str, kept: Checkpoint | None, start: int
) -> tuple[VerificationReport, LogIdentity]:
    async with _reader(url) as store:
        try:
            report = await verify_store(
                store,
                start_position=start + 1,
                start_prev_hash=kept.head_hash if kept is not None and start else GENESIS_HASH,
                checkpoint=kept,
            )
            if report.ok:
                tree = await verify_stored_tree(store, after=start, until=report.head_position)
                if not tree.ok:
                    report = tree
            return report, await read_identity(store)
        except Exception as error:  # no such table, unreachable server, bad credentials...
            raise _Usage(f"cannot read the log at {_safe(url)}: {error}") from None


@contextlib.asynccontextmanager
async def _reader(url: str) -> AsyncIterator[EventStore]:
    """A store for reading only: no migration (it would write), no writer task."""
    missing = _missing_sqlite_file(url)
    if missing is not None:
        raise _Usage(f"no database at {missing}")
    try:
        engine = create_engine(url)
    except Exception as error:
        raise _Usage(str(error)) from None
    store = EventStore(engine, read_only=True)
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def _writer(url: str) -> AsyncIterator[EventStore]:
    """A store that may append (to record the signing key): migrated, its writer started."""
    missing = _missing_sqlite_file(url)
    if missing is not None:
        raise _Usage(f"no database at {missing}")
    try:
        store = await open_store(url)
    except Exception as error:
        raise _Usage(f"cannot open the log at {_safe(url)}: {error}") from None
    try:
        yield store
    finally:
        await store.close()


def _missing_sqlite_file(url: str) -> str | None:
    """The path of a SQLite database that does not exist (connecting would create it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = parsed.database or ""
    return None if Path(path).exists() else path


def _write(output: str | None, body: bytes) -> None:
    if output is None or output == "-":
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        Path(output).write_bytes(body)


def _read_checkpoint(path: str) -> Checkpoint:
    try:
        return decode_checkpoint(Path(path).read_bytes())
    except OSError as error:
        raise _Usage(f"cannot read the checkpoint {path}: {error.strerror or error}") from None
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise _Usage(f"{path} is not a checkpoint: {error}") from None


def _read_public_key(path: str) -> Ed25519PublicKey:
    try:
        return load_public_key(Path(path))
    except OSError as error:
        raise _Usage(f"cannot read the public key {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise _Usage(f"{path} is not an Ed25519 public key in PEM: {error}") from None


async def _signing_key(url: str, key_path: str | None) -> tuple[Ed25519PrivateKey, LogIdentity]:
    path = signing_key_path(url, key_path)
    try:
        async with _writer(url) as store:
            return await signing_key(store, path, metadata=cli_metadata())
    except OSError as error:
        raise _Usage(f"cannot use the signing key {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise _Usage(f"{path} is not an Ed25519 private key in PEM: {error}") from None


def _signature_problem(kept: Checkpoint, key: Ed25519PublicKey) -> str | None:
    """Checked before the scan, so a forged checkpoint is not reported as a broken log."""
    if kept.key_id != key_id(key):
        return (
            f"it names key {kept.key_id}, not the given public key ({key_id(key)}); "
            "ask the operator for the key it was signed with"
        )
    if not verify_checkpoint(kept, key):
        return "its signature does not verify (altered or forged?)"
    return None


def _describe(report: VerificationReport, kept: Checkpoint | None, start: int) -> str:
    if report.head_position == 0:
        text = "ok: the log is empty"
    else:
        first = start + 1
        text = (
            f"ok: positions {first}..{report.head_position} verify "
            f"({report.checked} events); head hash {report.head_hash}"
        )
    if report.merkle_root is not None:
        text += f"; Merkle root {report.merkle_root}"
    if kept is not None:
        text += (
            f"\nthe log extends the checkpoint of {kept.size} events issued {kept.issued_at} "
            f"(key {kept.key_id}), whose signature verifies"
        )
    return text


def _broken(position: int | None, reason: str | None, consequence: str = "") -> int:
    where = f" at position {position}" if position is not None else ""
    tail = f" ({consequence})" if consequence else ""
    return _fail(f"verification FAILED{where}: {reason or 'unknown reason'}{tail}")


def _fail(message: str) -> int:
    print(f"agreements: {message}", file=sys.stderr)
    return BROKEN


def _usage(command: str, message: str) -> int:
    print(f"agreements {command}: error: {message}", file=sys.stderr)
    return USAGE


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
