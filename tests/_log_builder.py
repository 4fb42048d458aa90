"""Build hash-chained logs in memory, and forge them the way an attacker with the database would."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import msgspec

from events.envelope import GENESIS_HASH, RecordedEvent, format_timestamp
from events.hashing import event_hash

_START = dt.datetime(2024, 1, 1, 9, 0, tzinfo=dt.UTC)


def make_event(position: int, prev_hash: str, *, stream_id: str | None = None) -> RecordedEvent:
    """One plausible event at `position`, chained to `prev_hash`, with a correct hash."""
    stream = stream_id or f"partnership-{position % 3}"
    data = msgspec.json.encode({"note": f"note number {position}", "lang": "fr", "é": "ü"})
    metadata = msgspec.json.encode({"actor": "clerk@example.org", "correlation_id": f"c{position}"})
    moment = _START + dt.timedelta(minutes=position)
    event = RecordedEvent(
        position=position,
        event_id=str(uuid.UUID(int=position)),
        stream_id=stream,
        version=position // 3 + 1,
        type="NoteAttached",
        schema_version=1,
        occurred_at=format_timestamp(moment - dt.timedelta(days=30)),
        recorded_at=format_timestamp(moment),
        data=msgspec.Raw(data),
        metadata=msgspec.Raw(metadata),
        prev_hash=prev_hash,
        hash="",
    )
    return msgspec.structs.replace(event, hash=event_hash(event))


def build_log(size: int) -> list[RecordedEvent]:
    events: list[RecordedEvent] = []
    prev = GENESIS_HASH
    for position in range(1, size + 1):
        event = make_event(position, prev)
        events.append(event)
        prev = event.hash
    return events


def rehash(event: RecordedEvent, **changes: object) -> RecordedEvent:
    """Change fields and recompute the hash, as a forger who knows the chain rule would."""
    changed = msgspec.structs.replace(event, **changes)
    return msgspec.structs.replace(changed, hash=event_hash(changed))


def rechain(events: Sequence[RecordedEvent], start: int = 0) -> list[RecordedEvent]:
    """Renumber from events[start] on and recompute every prev_hash and hash: a full rewrite."""
    out = list(events[:start])
    prev = out[-1].hash if out else GENESIS_HASH
    for offset, event in enumerate(events[start:]):
        forged = rehash(event, position=start + offset + 1, prev_hash=prev)
        out.append(forged)
        prev = forged.hash
    return out


def leaves(events: Sequence[RecordedEvent]) -> list[bytes]:
    return [bytes.fromhex(e.hash) for e in events]
