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

Embedding them verbatim leaves one ambiguity: nothing in the canonical bytes says where `data`
ends and `metadata` begins. Data `{"a":1},{"actor":"x"` followed by metadata `"b":2}` hashes
exactly like data `{"a":1}` followed by metadata `{"actor":"x","b":2}`. This version of the
chain therefore holds only together with the rule `is_canonical_object`, which the verifier
applies to every row: each of the two must be one JSON object on its own, in the form the
writer produces, so the boundary cannot move without the row being refused.

The next hash version must not need that side rule. It must frame each variable-length field
so that no two different envelopes give the same bytes: either embed `data` and `metadata` as
JSON strings (their bytes, escaped), or prefix every field with its length in bytes (e.g. a
fixed-width big-endian count before each field). Rows already written keep this version and
are verified by it; a row says which version hashed it.
"""

from __future__ import annotations

import hashlib

import msgspec

from events.envelope import RecordedEvent

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


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


def is_canonical_object(raw: bytes) -> bool:
    """True if `raw` is exactly one JSON object that re-encodes to the same bytes.

    What the writer stores for `data` and `metadata` always is; a row that is not was not
    written by the service (see the module docstring for why the chain depends on it).
    """
    try:
        value = _decode(raw)
    except msgspec.DecodeError:
        return False
    return isinstance(value, dict) and _encode(value) == raw


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
