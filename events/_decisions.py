"""Deciding one pending append against the log's state, inside the writer's transaction.

Pure bookkeeping over what the writer has loaded: idempotency, expected version, rules, and
the assignment of versions, positions, record times and hashes. No I/O here.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from events.envelope import AppendResult, Disclosure, ExpectedVersion
from events.errors import IdempotencyConflict, WrongExpectedVersion
from events.hashing import canonical_bytes, chain_hash
from events.personal import commitment, find_personal, person_id
from events.rules import DeciderFor, decider_for
from events.validation import Prepared


@dataclass(slots=True)
class StoredId:
    """What the idempotency check needs of an event already in the log (or staged)."""

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
    personal: list[tuple[int, str, str | None, bytes, bytes]] = field(default_factory=list)
    """`personal_values` rows: position, JSON pointer, person id, salt, commitment."""


SALT_BYTES = 32


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def disclose(
    event: Prepared, position: int, secret: bytes, salt: Callable[[], bytes], staged: Staged
) -> tuple[Disclosure, ...]:
    """Find the event's personal values, give each a salt, stage their `personal_values` rows,
    and return what the hash needs of them."""
    found = find_personal(event.data)
    disclosures = []
    for value in found:
        grain = salt()
        person = None if value.name is None else person_id(secret, value.name)
        staged.personal.append(
            (position, value.path, person, grain, commitment(grain, value.value))
        )
        disclosures.append(Disclosure(path=value.path, person_id=person, salt=grain.hex()))
    return tuple(disclosures)


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
    salt: Callable[[], bytes] = new_salt,
) -> AppendResult:
    """Give the batch its versions, positions, record time and hashes, and stage its rows
    (with those of its personal values, whose person ids are keyed by `secret`)."""
    recorded_at = max(recorded_at, tip.recorded_at)
    staged.streams.add(stream_id)
    from_version, from_position = stream.version + 1, tip.position + 1
    for event in events:
        stream.version += 1
        tip.position += 1
        occurred_at = _business_time(event, recorded_at)
        canonical = canonical_bytes(
            position=tip.position,
            event_id=event.event_id,
            stream_id=stream_id,
            version=stream.version,
            type=event.type,
            schema_version=event.schema_version,
            occurred_at=occurred_at,
            recorded_at=recorded_at,
            data=event.data_bytes,
            metadata=metadata,
            personal=disclose(event, tip.position, secret, salt, staged),
        )
        digest = chain_hash(tip.hash, canonical)
        staged.rows.append(
            (
                tip.position,
                event.event_id,
                stream.key,
                stream_id,
                stream.version,
                event.type,
                event.schema_version,
                event.data_bytes,
                metadata,
                occurred_at,
                recorded_at,
                tip.hash,
                digest,
            )
        )
        staged.ids[event.event_id] = StoredId(
            stream_id,
            stream.version,
            tip.position,
            event.type,
            event.data_bytes,
            occurred_at,
            recorded_at,
        )
        tip.hash = digest
    tip.recorded_at = recorded_at
    return AppendResult(
        stream_id=stream_id,
        from_version=from_version,
        to_version=stream.version,
        from_position=from_position,
        to_position=tip.position,
    )
