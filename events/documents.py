"""An agreement's recorded files, by fingerprint: is the file at hand the one recorded?

A DocumentRecorded keeps a file's SHA-256 and size, not the file. To verify a file, hash it
and look the digest up among the documents recorded in the agreement's stream, each as last
corrected (a correction of a mistyped digest is what counts from then on; the stored original
never changes, so the answer also says which event recorded it and which corrected it).

A file whose fingerprint a document had before a correction replaced it is not the recorded
document, but an auditor holding it needs to know more than "not recorded": that it once was
recorded, and which correction, by whom and why, put another fingerprint in its place
(`RecordedDocument.superseded`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from events.catalogue import DocumentRecorded, EventCorrected, decoder_for
from events.envelope import RecordedEvent
from events.merge_patch import apply_merge_patch
from events.upcasting import decode_stored

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class FileFingerprint:
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Superseded:
    """A fingerprint a document had until a correction replaced it."""

    fingerprint: FileFingerprint
    corrected_by: RecordedEvent
    reason: str


@dataclass(slots=True)
class RecordedDocument:
    """One document of an agreement: its data as last corrected, and the events behind it."""

    document: DocumentRecorded
    recorded_by: RecordedEvent
    corrected_by: list[RecordedEvent] = field(default_factory=list)
    superseded: list[Superseded] = field(default_factory=list)
    """The fingerprints corrections replaced, oldest first."""

    @property
    def fingerprint(self) -> FileFingerprint:
        return FileFingerprint(self.document.sha256, self.document.size)

    def matches(self, fingerprint: FileFingerprint) -> bool:
        return self.fingerprint == fingerprint

    def replaced(self, fingerprint: FileFingerprint) -> Superseded | None:
        """The correction that replaced `fingerprint`, if the document once had it (and has
        not got it back since)."""
        if self.matches(fingerprint):
            return None
        for old in reversed(self.superseded):
            if old.fingerprint == fingerprint:
                return old
        return None


def fingerprint(path: Path) -> FileFingerprint:
    """The SHA-256 (hex) and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileFingerprint(digest.hexdigest(), size)


def recorded_documents(events: Iterable[RecordedEvent]) -> list[RecordedDocument]:
    """The documents recorded in one stream's events (in order), corrections applied."""
    by_event: dict[str, RecordedDocument] = {}
    for event in events:
        data = decode_stored(event.type, event.schema_version, event.data)
        if isinstance(data, DocumentRecorded):
            by_event[event.event_id] = RecordedDocument(data, event)
        elif isinstance(data, EventCorrected) and data.corrects in by_event:
            found = by_event[data.corrects]
            corrected = _patched(found.document, data.changes)
            if corrected is not None:
                before = found.fingerprint
                found.document = corrected
                found.corrected_by.append(event)
                if found.fingerprint != before:
                    found.superseded.append(Superseded(before, event, data.reason))
    return list(by_event.values())


def _patched(document: DocumentRecorded, changes: dict[str, Any]) -> DocumentRecorded | None:
    """The document with a correction applied; None if the result is not a valid record
    (the rules refuse such a correction; one recorded under older rules changes nothing)."""
    decoder = decoder_for(DocumentRecorded.type_name)
    assert decoder is not None
    merged = apply_merge_patch(msgspec.to_builtins(document), changes)
    try:
        decoded = decoder.decode(msgspec.json.encode(merged))
    except msgspec.ValidationError:
        return None
    return decoded if isinstance(decoded, DocumentRecorded) else None


def actor(event: RecordedEvent) -> str:
    """Who recorded an event, as its metadata says."""
    metadata: Any = msgspec.json.decode(event.metadata)
    return str(metadata.get("actor", "unknown")) if isinstance(metadata, dict) else "unknown"
