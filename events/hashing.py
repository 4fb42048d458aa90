"""The hash chain over the log, hash version 2.

    canonical(e) = the fields below, each as its length in bytes (8 bytes, big-endian) then
                   its bytes; integers in decimal ASCII, text in UTF-8:
        "agreements-event/v2", position, event_id, stream_id, version, type, schema_version,
        occurred_at, recorded_at, committed(data), <metadata bytes as stored>, paths
    hash(e)      = lowercase hex of sha256(bytes.fromhex(prev_hash) || canonical(e))
    prev_hash    = hash of the event at position - 1, or 64 zeros for position 1.

Every field is framed by its length, so no two envelopes give the same bytes: a boundary
between two fields (data and metadata, say) cannot move without changing the hash. The first
field names the hash version, so bytes of one version never pass for another's.

Personal values (`events.personal`) are outside the chained bytes. `paths` is the JSON array
(compact) of the JSON pointers of the event's personal values, sorted by code point ("[]" for
an event naming nobody); `committed(data)` is the data as stored with the
value at each of those pointers replaced by the lowercase hex of its commitment,
sha256(salt || UTF-8 value), re-encoded compactly (JSON objects keep their key order), or the
stored bytes themselves when `paths` is empty. The commitment is recomputed from the value
and its salt while the value is held; once it is erased the data holds a placeholder, the
salt is gone, and the stored commitment stands in. Either way the hash, every checkpoint and
every proof are unchanged by an erasure. Covering `paths` keeps a value from being swapped
for its own commitment and dropped from the list unnoticed.

Anyone can recompute the chain from an export (whose lines carry each personal value's salt,
or its commitment once erased) with sha256 and a JSON encoder that writes strings and
integers the way msgspec and Python's json (separators=(",", ":"), ensure_ascii=False) do.
Checkpoints name the version in their origin (`events.signed_checkpoints.ORIGIN`).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import Any

import msgspec

from events.envelope import Disclosure, RecordedEvent
from events.personal import PointerError, commitment, locate, placeholder

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


HASH_VERSION = 2
_TAG = b"agreements-event/v2"
_length = struct.Struct(">Q").pack


def _framed(field: bytes) -> bytes:
    return _length(len(field)) + field


_FRAMED_TAG = _framed(_TAG)


class DisclosureError(ValueError):
    """An event's personal values do not fit its data: a pointer that leads nowhere, a value
    that is not text, an erased value whose data does not hold the placeholder, or a
    disclosure with neither salt nor commitment."""


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
    personal: Sequence[Disclosure] = (),
) -> bytes:
    """The bytes hashed for one event (see the module docstring); raises DisclosureError."""
    committed, paths = committed_data(data, personal)
    return NewEvents(stream_id, recorded_at, metadata).canonical(
        position=position,
        event_id=event_id,
        version=version,
        type=type,
        schema_version=schema_version,
        occurred_at=occurred_at,
        committed=committed,
        paths=paths,
    )


class NewEvents:
    """The canonical bytes of events that share a stream, a record time and metadata, as one
    append's events do: those fields are framed once, not once an event.

    The writer hands over `committed(data)` and `paths` already made (`commit_values`), from
    the values and salts it holds, so it never parses a pointer or recomputes a commitment.
    """

    __slots__ = ("_metadata", "_recorded_at", "_stream_id")

    def __init__(self, stream_id: str, recorded_at: str, metadata: bytes) -> None:
        self._stream_id = _framed(stream_id.encode())
        self._recorded_at = _framed(recorded_at.encode())
        self._metadata = _framed(metadata)

    def canonical(
        self,
        *,
        position: int,
        event_id: str,
        version: int,
        type: str,
        schema_version: int,
        occurred_at: str,
        committed: bytes,
        paths: bytes,
    ) -> bytes:
        position_bytes = str(position).encode()
        event_id_bytes = event_id.encode()
        version_bytes = str(version).encode()
        typed = _TYPE_FRAMES.get((type, schema_version))
        if typed is None:
            typed = _framed(type.encode()) + _framed(str(schema_version).encode())
            if len(_TYPE_FRAMES) < _TYPE_FRAMES_KEPT:
                _TYPE_FRAMES[(type, schema_version)] = typed
        occurred_bytes = occurred_at.encode()
        return b"".join(
            (
                _FRAMED_TAG,
                _length(len(position_bytes)),
                position_bytes,
                _length(len(event_id_bytes)),
                event_id_bytes,
                self._stream_id,
                _length(len(version_bytes)),
                version_bytes,
                typed,
                _length(len(occurred_bytes)),
                occurred_bytes,
                self._recorded_at,
                _length(len(committed)),
                committed,
                self._metadata,
                _length(len(paths)),
                paths,
            )
        )


_TYPE_FRAMES: dict[tuple[str, int], bytes] = {}
"""The framed type and schema version, adjacent in every event's bytes, by (type, version):
the catalogue's few pairs, framed once. Bounded, for a verifier reading a log it does not
trust."""
_TYPE_FRAMES_KEPT = 1024


def commit_values(
    data: bytes, values: Sequence[tuple[str, tuple[str | int, ...], str]]
) -> tuple[bytes, bytes]:
    """`committed(data)` and `paths` for data whose personal values are known: for each value
    its JSON pointer, the keys that pointer walks, and the hex of its commitment. Same bytes
    as `committed_data` gives for the same values and salts (raises DisclosureError)."""
    if not values:
        return data, b"[]"
    document = _decode(data)
    try:
        for _, keys, committed in values:
            node = document
            for key in keys[:-1]:
                node = node[key]
            if not isinstance(node[keys[-1]], str):
                raise TypeError
            node[keys[-1]] = committed
    except (KeyError, IndexError, TypeError):
        raise DisclosureError(f"{values} do not fit the data") from None
    return _encode(document), _encode(sorted([path for path, _, _ in values]))


def committed_data(data: bytes, personal: Sequence[Disclosure]) -> tuple[bytes, bytes]:
    """The data with each personal value replaced by its commitment, and the paths' JSON."""
    if not personal:
        return data, b"[]"
    try:
        document = _decode(data)
    except msgspec.DecodeError as error:
        raise DisclosureError(f"the data is not JSON: {error}") from None
    for disclosure in personal:
        try:
            parent, key = locate(document, disclosure.path)
        except PointerError as error:
            raise DisclosureError(str(error)) from None
        parent[key] = _commitment_of(parent[key], disclosure)
    return _encode(document), _encode(sorted(d.path for d in personal))


def _commitment_of(value: Any, disclosure: Disclosure) -> str:
    if not isinstance(value, str):
        raise DisclosureError(f"{disclosure.path} is not text")
    if disclosure.salt is not None:
        return commitment(bytes.fromhex(disclosure.salt), value).hex()
    if disclosure.commitment is None:
        raise DisclosureError(f"{disclosure.path} has neither a salt nor a commitment")
    if value != placeholder(disclosure.path, disclosure.person_id):
        raise DisclosureError(
            f"{disclosure.path} is erased but does not hold the erasure placeholder"
        )
    return disclosure.commitment


def is_canonical_object(raw: bytes) -> bool:
    """True if `raw` is exactly one JSON object that re-encodes to the same bytes.

    What the writer stores for `data` and `metadata` always is; a row that is not was not
    written by the service. The chain does not depend on it (its fields are framed): the
    verifier applies it as a sanity check.
    """
    try:
        value = _decode(raw)
    except msgspec.DecodeError:
        return False
    return isinstance(value, dict) and _encode(value) == raw


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    digest = hashlib.sha256(bytes.fromhex(prev_hash))
    digest.update(canonical)
    return digest.hexdigest()


def event_hash(event: RecordedEvent) -> str:
    """Recompute an event's hash from its fields, its personal values' disclosures and its
    stored prev_hash; raises DisclosureError when the disclosures do not fit the data."""
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
            personal=event.personal,
        ),
    )
