"""Decoding stored event data for the folds: the one place upcasting would plug in."""

from __future__ import annotations

from events.catalogue import EventData, decoder_for
from events.envelope import RecordedEvent


def event_data(event: RecordedEvent) -> EventData | None:
    """The typed data of a recorded event, or None for a type this catalogue does not know
    (a fold skips it rather than stalling every projection on one unreadable event)."""
    decoder = decoder_for(event.type)
    if decoder is None:
        return None
    return decoder.decode(event.data)
