"""Decoding stored event data for the folds: through the upcasters, like every reader."""

from __future__ import annotations

from events.catalogue import EventData
from events.envelope import RecordedEvent
from events.upcasting import decode_stored


def event_data(event: RecordedEvent) -> EventData | None:
    """The typed data of a recorded event (older schema versions upcast), or None for a type
    this catalogue does not know: a fold skips it rather than stalling every projection."""
    return decode_stored(event.type, event.schema_version, event.data)
