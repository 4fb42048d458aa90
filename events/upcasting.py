"""Reading events recorded under older schema versions.

A recorded event is never rewritten. When an event type's shape must change, its class gets
a higher `schema_version` and an upcaster is registered here that turns the stored JSON of
version n into that of version n+1. Readers call `decode_stored`, which applies the chain and
then decodes with the current class; current-version events take the fast path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from events.catalogue import EVENT_TYPES, EventData, decoder_for

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}
"""(type name, from schema version) -> function giving the data of the next version."""


def upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    def register(function: Upcaster) -> Upcaster:
        UPCASTERS[(type_name, from_version)] = function
        return function

    return register


class UnreadableEvent(Exception):
    """Stored data that no upcaster chain brings to the current schema."""


def decode_stored(type_name: str, schema_version: int, data: bytes) -> EventData | None:
    """The event's data as today's class, or None for a type this code does not know."""
    cls = EVENT_TYPES.get(type_name)
    decoder = decoder_for(type_name)
    if cls is None or decoder is None:
        return None
    if schema_version == cls.schema_version:
        return decoder.decode(data)
    if schema_version > cls.schema_version:
        raise UnreadableEvent(
            f"{type_name} v{schema_version} is newer than this code (v{cls.schema_version})"
        )
    document: dict[str, Any] = msgspec.json.decode(data)
    for version in range(schema_version, cls.schema_version):
        step = UPCASTERS.get((type_name, version))
        if step is None:
            raise UnreadableEvent(f"no upcaster for {type_name} v{version}")
        document = step(document)
    return msgspec.convert(document, cls)


@upcaster("AgreementEndorsed", 1)
@upcaster("DelegationFormed", 1)
def _optional_since_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v2 made fields optional that every v1 event holds: the data reads as it is."""
    return data


@upcaster("ResponsibilityTransferred", 1)
def _transfer_moved_nothing(data: dict[str, Any]) -> dict[str, Any]:
    """v1 hand-overs left the open follow-ups with the outgoing owner: say so explicitly."""
    return {**data, "move_open_follow_ups": False}
