"""`agreements people` and `agreements erase`: the people the register names, and the erasure
of one of them (GDPR Art. 17; see `events.erasure`).

    agreements people [--database-url URL]
    agreements erase PERSON_ID --legal-basis TEXT --reason TEXT [--database-url URL]
    agreements erase --note EVENT_ID --legal-basis TEXT --reason TEXT [--database-url URL]

`people` lists each person id with the number of values the log recorded of them, whether they
are erased, and the streams that name them (no names: find the id of a name in a stream's
events, or through the subject-access report). `erase` prints the position of the
`PersonalDataErased` it recorded (or of the earlier one: erasing twice records once), then the
streams whose read models must be refolded. `--note` erases the text of one note instead (a
note may name anyone). Exit status: 0 done, 1 no such person or note, 2 misused.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from events.erasure import (
    UnknownNote,
    UnknownPerson,
    erase,
    erase_note,
    people,
    streams_to_refold,
)
from events.errors import ValidationFailed
from events.personal import log_secret, person_id
from events.store import open_store
from service.cli_actor import cli_metadata
from service.settings import Settings

_PERSON_ID = re.compile(r"[0-9a-f]{32}")


def add_people_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    listing = commands.add_parser(
        "people", parents=[common], help="the people the register names, by person id"
    )
    listing.add_argument(
        "--name", help="only the person of this name, as the register writes it (any script)"
    )
    listing.set_defaults(run=people_command)
    erase_ = commands.add_parser(
        "erase",
        parents=[common],
        help="erase a person's data from the log (proofs stay valid)",
        description="Replace every value of the person in the log by a placeholder, forget "
        "the salts of their commitments, and record PersonalDataErased with you as the actor.",
    )
    erase_.add_argument("person_id", nargs="?", help="32 hex digits, from `agreements people`")
    erase_.add_argument("--note", metavar="EVENT_ID", help="erase the text of this note instead")
    erase_.add_argument("--legal-basis", required=True, help="e.g. 'GDPR Art. 17(1)(a)'")
    erase_.add_argument("--reason", required=True, help="why, for the record")
    erase_.set_defaults(run=erase_command)


async def people_command(args: argparse.Namespace, settings: Settings) -> int:
    store = await open_store(settings.database_url)
    try:
        only = None
        if args.name is not None:
            only = person_id(await log_secret(store.engine), args.name)
        found = await people(store, only=only)
    finally:
        await store.close()
    for person in found:
        state = "erased" if person.erased else "held"
        print(
            f"{person.person_id}  {person.values:>4} values  {state:<6}  {' '.join(person.streams)}"
        )
    print(f"{len(found)} people", file=sys.stderr)
    return 0


async def erase_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.note is not None:
        return await _erase_note(args, settings)
    if args.person_id is None or not _PERSON_ID.fullmatch(args.person_id):
        print("agreements erase: a person id is 32 lowercase hex digits", file=sys.stderr)
        return 2
    store = await open_store(settings.database_url)
    try:
        result = await erase(
            store,
            args.person_id,
            legal_basis=args.legal_basis,
            reason=args.reason,
            metadata=cli_metadata(),
        )
        refold = await streams_to_refold(store, args.person_id)
    except UnknownPerson as unknown:
        print(f"agreements erase: {unknown}", file=sys.stderr)
        return 1
    except ValidationFailed as invalid:
        return _refused(invalid)
    finally:
        await store.close()
    what = "erased" if result.created else "already erased"
    print(f"{what}: PersonalDataErased at position {result.position}")
    print(f"streams to refold: {' '.join(refold) or '(none)'}")
    if not result.files_scrubbed:
        print("warning: the database's write-ahead log still holds old pages", file=sys.stderr)
    return 0


async def _erase_note(args: argparse.Namespace, settings: Settings) -> int:
    if args.person_id is not None:
        print("agreements erase: give a person id or --note, not both", file=sys.stderr)
        return 2
    store = await open_store(settings.database_url)
    try:
        result = await erase_note(
            store,
            args.note,
            legal_basis=args.legal_basis,
            reason=args.reason,
            metadata=cli_metadata(),
        )
    except UnknownNote as unknown:
        print(f"agreements erase: {unknown}", file=sys.stderr)
        return 1
    except ValidationFailed as invalid:
        return _refused(invalid)
    finally:
        await store.close()
    what = "erased" if result.created else "already erased"
    print(f"{what}: NoteErased at position {result.position}")
    return 0


def _refused(invalid: ValidationFailed) -> int:
    """Say why the erasure's event was refused (a legal basis or reason out of bounds)."""
    details = "; ".join(f"{e.path}: {e.message}" for e in invalid.errors)
    print(f"agreements erase: {details}", file=sys.stderr)
    return 2
