"""Deciding one pending append against the log's state, inside the writer's transaction.

Pure bookkeeping over what the writer has loaded: idempotency, expected version, rules, and
the assignment of versions, positions, record times and hashes. No I/O here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from events.catalogue import EventCorrected
from events.envelope import AppendResult, ExpectedVersion
from events.errors import IdempotencyConflict, RuleViolation, WrongExpectedVersion
from events.hashing import NewEvents, commit_values
from events.personal import (
    Found,
    commitment,
    correction_values,
    person_key,
    personal_values,
)
from events.rules import DeciderFor, decider_for
from events.rules.corrections import Appending, Recorded, patched
from events.validation import Prepared


class StoredId(msgspec.Struct, gc=False):
    """What the idempotency check needs of an event already in the log (or staged): one an
    event a group stages, of text and numbers only, so the cycle collector skips it."""

    stream_id: str
    version: int
    position: int
    type: str
    data: bytes
    occurred_at: str
    recorded_at: str


@dataclass(slots=True)
class StreamState:
    key: int
    version: int
    decider_state: Any
    is_new: bool = False


@dataclass(slots=True)
class Tip:
    """The head of the log as the group grows: next position, last hash, last record time."""

    position: int
    hash: str
    recorded_at: str


ROW_COLUMNS = (
    "position",
    "event_id",
    "stream_key",
    "stream_id",
    "version",
    "type",
    "schema_version",
    "data",
    "metadata",
    "occurred_at",
    "recorded_at",
    "prev_hash",
    "hash",
)


@dataclass(slots=True)
class Staged:
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    """Event rows in the order of `ROW_COLUMNS`."""
    streams: set[str] = field(default_factory=set)
    ids: dict[str, StoredId] = field(default_factory=dict)
    """The events by id that the idempotency check looks for: those already stored that the
    group names, and those staged."""
    personal: list[tuple[int, str, str | None, bytes, bytes]] = field(default_factory=list)
    """`personal_values` rows: position, JSON pointer, person id, salt, commitment."""
    leaves: list[bytes] = field(default_factory=list)
    """The rows' hashes as 32 raw bytes, in position order: the Merkle tree's new leaves."""


SALT_BYTES = 32
"""Each personal value gets its own 32 random bytes of salt."""

Salts = Callable[[int], bytes]
"""Random bytes, this many: one call per append hands out every salt it needs."""


def already_stored(
    stream_id: str, events: list[Prepared], known: Mapping[str, StoredId]
) -> AppendResult | None:
    """The original result if this exact batch is stored; None if none of it is."""
    found = [known.get(e.event_id) for e in events]
    if all(f is None for f in found):
        return None
    for event, stored in zip(events, found, strict=True):
        if stored is None:
            raise IdempotencyConflict(event.event_id, "part of this batch is stored, part is not")
        same = (
            stored.stream_id == stream_id
            and stored.type == event.type
            and stored.data == event.data_bytes
            and stored.occurred_at == _business_time(event, stored.recorded_at)
        )
        if not same:
            raise IdempotencyConflict(event.event_id, "already stored with other content")
    first, last = found[0], found[-1]
    assert first is not None and last is not None
    if last.version - first.version != len(events) - 1:
        raise IdempotencyConflict(events[0].event_id, "stored, but not as one batch")
    return AppendResult(
        stream_id=stream_id,
        from_version=first.version,
        to_version=last.version,
        from_position=first.position,
        to_position=last.position,
        created=False,
    )


def _business_time(event: Prepared, recorded_at: str) -> str:
    """An event's `occurred_at` as stored: when left out, the time it was recorded."""
    return recorded_at if event.occurred_at is None else event.occurred_at


def check_expected(stream_id: str, expected: ExpectedVersion, current: int) -> None:
    if expected == "any":
        return
    wanted = 0 if expected == "no_stream" else expected
    if wanted != current:
        raise WrongExpectedVersion(stream_id, expected, current)


def decide(
    stream_id: str, events: list[Prepared], stream: StreamState, rules: DeciderFor = decider_for
) -> Any:
    """Ask the stream's decider; return the state after the batch (raises RuleViolation)."""
    return rules(stream_id).check(
        stream.decider_state, [e.data for e in events], [e.event_id for e in events]
    )


def batch_values(events: list[Prepared], state: Any) -> list[list[Found]]:
    """The personal values of each event of a batch appended to a stream in decider `state`
    (the state before the batch). A correction's values are those its changes write
    (`events.personal.correction_values`): found by patching the corrected event as the
    stream's rules hold it (`Recorded`), the batch's earlier events and corrections included."""
    if not any(isinstance(event.data, EventCorrected) for event in events):
        return [personal_values(event.data) for event in events]
    recorded = getattr(state, "recorded", None)
    appending = Appending(recorded) if isinstance(recorded, Recorded) else None
    found: list[list[Found]] = []
    for event in events:
        data = event.data
        if appending is None:
            found.append(personal_values(data))
            continue
        before = appending.frozen()
        appending.append(event.event_id, data)
        if not isinstance(data, EventCorrected):
            found.append(personal_values(data))
            continue
        try:
            target, corrected = patched(before, data, 0)
        except RuleViolation:  # the decider refused it already; nothing to store
            found.append([])
            continue
        found.append(correction_values(data, corrected))
        appending = Appending(appending.frozen().with_correction(target, corrected))
    return found


def stage(
    stream_id: str,
    events: list[Prepared],
    metadata: bytes,
    stream: StreamState,
    tip: Tip,
    recorded_at: str,
    staged: Staged,
    *,
    secret: bytes,
    salts: Salts = os.urandom,
) -> AppendResult:
    """Give the batch its versions, positions, record time and hashes, and stage its rows
    (with those of its personal values, whose person ids are keyed by `secret`)."""
    recorded_at = max(recorded_at, tip.recorded_at)
    from_version, from_position = stream.version + 1, tip.position + 1
    found = batch_values(events, stream.decider_state)
    needed = SALT_BYTES * sum(map(len, found))
    pool = salts(needed) if needed else b""
    taken = 0
    canonical = NewEvents(stream_id, recorded_at, metadata).canonical
    # Staged whole or not at all: a failure part-way (data its values do not fit) leaves the
    # group's other appends as they were.
    rows: list[tuple[Any, ...]] = []
    personal: list[tuple[int, str, str | None, bytes, bytes]] = []
    leaves: list[bytes] = []
    ids: dict[str, StoredId] = {}
    stream_key = stream.key
    position, version = tip.position, stream.version
    # The chain in raw bytes: one `fromhex` for the group's tip, one `hex` an event.
    prev_hex = tip.hash
    prev = bytes.fromhex(prev_hex)
    sha256 = hashlib.sha256
    for event, values in zip(events, found, strict=True):
        position += 1
        version += 1
        event_id, data, type_ = event.event_id, event.data_bytes, event.type
        occurred_at = recorded_at if event.occurred_at is None else event.occurred_at
        if values:
            committed: list[tuple[str, tuple[str | int, ...], str]] = []
            for path, keys, value, name in values:
                salt = pool[taken : taken + SALT_BYTES]
                taken += SALT_BYTES
                digest = commitment(salt, value)
                # an erased name's placeholder (a later correction of their title) keeps its id
                person = None if name is None else person_key(secret, name)
                personal.append((position, path, person, salt, digest))
                committed.append((path, keys, digest.hex()))
            committed_data, paths = commit_values(data, committed)
        else:
            committed_data, paths = data, b"[]"
        schema_version = event.schema_version
        hashed = sha256(
            prev
            + canonical(
                position=position,
                event_id=event_id,
                version=version,
                type=type_,
                schema_version=schema_version,
                occurred_at=occurred_at,
                committed=committed_data,
                paths=paths,
            )
        ).digest()
        hashed_hex = hashed.hex()
        rows.append(
            (
                position,
                event_id,
                stream_key,
                stream_id,
                version,
                type_,
                schema_version,
                data,
                metadata,
                occurred_at,
                recorded_at,
                prev_hex,
                hashed_hex,
            )
        )
        leaves.append(hashed)
        ids[event_id] = StoredId(
            stream_id, version, position, type_, data, occurred_at, recorded_at
        )
        prev, prev_hex = hashed, hashed_hex
    staged.rows += rows
    staged.personal += personal
    staged.leaves += leaves
    staged.ids.update(ids)
    staged.streams.add(stream_id)
    tip.position, stream.version, tip.hash = position, version, prev_hex
    tip.recorded_at = recorded_at
    return AppendResult(
        stream_id=stream_id,
        from_version=from_version,
        to_version=stream.version,
        from_position=from_position,
        to_position=tip.position,
    )
