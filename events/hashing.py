"""The hash chain over the log.

    canonical(e) = JSON array, compact, in this order:
        [position, event_id, stream_id, version, type, schema_version,
         occurred_at, recorded_at, <data bytes as stored>, <metadata bytes as stored>]
    hash(e)      = lowercase hex of sha256(bytes.fromhex(prev_hash) || canonical(e))
    prev_hash    = hash of the event at position - 1, or 64 zeros for position 1.

The data and metadata are embedded verbatim (they are already canonical JSON objects), so the
chain can be recomputed by anyone from an export with nothing but sha256 and a JSON encoder
that writes integers and strings the way msgspec and Python's json (separators=(",", ":"),
ensure_ascii=False) do.
"""

from __future__ import annotations

import hashlib

import msgspec

from events.envelope import RecordedEvent

_encode = msgspec.json.Encoder().encode


def canonical_bytes(
    *,
    position: int,
    event_id: str,
    stream_id: str,
    version: int,
    type: str,
    schema_version: int,
    occurred_at: str,
    recorded_at: str,
    data: bytes,
    metadata: bytes,
) -> bytes:
    return _encode(
        [
            position,
            event_id,
            stream_id,
            version,
            type,
            schema_version,
            occurred_at,
            recorded_at,
            msgspec.Raw(data),
            msgspec.Raw(metadata),
        ]
    )


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical).hexdigest()


def event_hash(event: RecordedEvent) -> str:
    """Recompute an event's hash from its fields and its stored prev_hash."""
    return chain_hash(
        event.prev_hash,
        canonical_bytes(
            position=event.position,
            event_id=event.event_id,
            stream_id=event.stream_id,
            version=event.version,
            type=event.type,
            schema_version=event.schema_version,
            occurred_at=event.occurred_at,
            recorded_at=event.recorded_at,
            data=bytes(event.data),
            metadata=bytes(event.metadata),
        ),
    )
