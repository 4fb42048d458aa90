"""`agreements verify-document FILE --agreement ID`: whether a file is one recorded for an
agreement (which document, recorded when and by whom) or not.

Exit status: 0 the file is a recorded document of the agreement; 1 it is not (the answer an
auditor acts on; `CORRECTED AWAY` when the file has a fingerprint a document had until a
correction replaced it, naming the correction); 2 the question cannot be answered (no such
agreement, unreadable file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from events.documents import (
    RecordedDocument,
    Superseded,
    actor,
    fingerprint,
    recorded_documents,
)
from events.envelope import RecordedEvent
from events.store import EventStore, open_store
from service.settings import Settings

_PAGE = 1000


def add_document_commands(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Register `verify-document` on the CLI's subparsers."""
    verify = subparsers.add_parser(
        "verify-document",
        parents=[common],
        help="tell whether FILE is a document recorded for an agreement (exit 1 if not)",
        description="Hash FILE (SHA-256) and look it up among the documents recorded for the "
        "agreement (DocumentRecorded events, as last corrected). Exit 0: it is one (the "
        "document, when and by whom it was recorded); 1: it is not (CORRECTED AWAY if a "
        "correction replaced its fingerprint, naming the correction); 2: no such agreement or "
        "FILE cannot be read.",
    )
    verify.add_argument("file", help="the file to check")
    verify.add_argument(
        "--agreement", required=True, help="the agreement's id (with or without `agreement-`)"
    )
    verify.set_defaults(run=_run_verify)


async def _run_verify(args: argparse.Namespace, settings: Settings) -> int:
    store = await open_store(settings.database_url)
    try:
        return await verify_document(store, Path(args.file), args.agreement)
    finally:
        await store.close()


async def verify_document(store: EventStore, file: Path, agreement: str) -> int:
    """What `agreements verify-document` does: prints the answer, returns the exit status."""
    stream_id = agreement if agreement.startswith("agreement-") else f"agreement-{agreement}"
    try:
        print_ = fingerprint(file)
    except OSError as error:
        print(f"agreements: cannot read {file}: {error.strerror or error}", file=sys.stderr)
        return 2
    events = await _stream(store, stream_id)
    if not events:
        print(f"agreements: no agreement {stream_id!r}", file=sys.stderr)
        return 2
    documents = recorded_documents(events)
    found = [d for d in documents if d.matches(print_)]
    replaced = [(d, old) for d in documents if (old := d.replaced(print_)) is not None]
    if not found and replaced:
        for document, old in replaced:
            print(_describe_replaced(file, stream_id, document, old))
        return 1
    if not found:
        print(
            f"NOT RECORDED: {file} (SHA-256 {print_.sha256}, {print_.size} bytes) is none of "
            f"the {len(documents)} documents recorded for {stream_id}"
        )
        return 1
    for document in found:
        print(_describe(file, stream_id, document))
    return 0


def _describe(file: Path, stream_id: str, found: RecordedDocument) -> str:
    document, event = found.document, found.recorded_by
    lines = [
        f"RECORDED: {file} is document {document.document_id!r} of {stream_id}",
        f"  name: {document.name} ({document.media_type}, {document.size} bytes)",
        f"  SHA-256: {document.sha256}",
        f"  recorded at {event.recorded_at} by {actor(event)} (business time "
        f"{event.occurred_at}; event {event.event_id}, position {event.position})",
    ]
    if document.location:
        lines.insert(2, f"  kept at: {document.location}")
    lines += [
        f"  corrected at {c.recorded_at} by {actor(c)} (event {c.event_id}, position {c.position})"
        for c in found.corrected_by
    ]
    return "\n".join(lines)


def _describe_replaced(file: Path, stream_id: str, found: RecordedDocument, old: Superseded) -> str:
    document, event, fix = found.document, found.recorded_by, old.corrected_by
    return "\n".join(
        [
            f"CORRECTED AWAY: {file} (SHA-256 {old.fingerprint.sha256}, {old.fingerprint.size} "
            f"bytes) is not document {document.document_id!r} of {stream_id} as recorded now",
            f"  its fingerprint was recorded at {event.recorded_at} by {actor(event)} (event "
            f"{event.event_id}, position {event.position})",
            f"  and replaced at {fix.recorded_at} by {actor(fix)} (event {fix.event_id}, "
            f"position {fix.position}): {old.reason}",
            f"  the document now: {document.name}, SHA-256 {document.sha256}, "
            f"{document.size} bytes",
        ]
    )


async def _stream(store: EventStore, stream_id: str) -> list[RecordedEvent]:
    events: list[RecordedEvent] = []
    while True:
        page = await store.read_stream(stream_id, after_version=len(events), limit=_PAGE)
        events += page
        if len(page) < _PAGE:
            return events
