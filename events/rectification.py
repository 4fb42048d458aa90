"""Rectification (GDPR Art. 16) that also removes the old value from the files.

A correction (`EventCorrected`) normally leaves the corrected event's stored bytes as they
are: reads cut before it show what was known then. A correction of personal data may ask for
more (`erase_original`): in the correction's own transaction (the writer runs `rectify` before
staging it, and rolls both back if the correction is refused), every personal value of the
corrected event that the correction's merge patch changes or removes is replaced in the stored
row by its placeholder and loses its salt, as an erasure does (`events.erasure`), and so is
each value an earlier correction of that event wrote in its `changes` (a personal value of that
correction, `events.personal.correction_values`) that this one replaces. The chain
covers the commitments, so every proof still holds; views fold the corrected value from the
correction on, and the placeholder before it.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from sqlalchemy import select
from sqlalchemy.engine import Connection

from events.catalogue import EventCorrected
from events.erasure import held_values, rewrite_values
from events.merge_patch import apply_merge_patch
from events.personal import PointerError, get_at
from events.schema import events as events_table
from events.schema import personal_values as personal_table
from events.schema import streams as streams_table

_E, _P, _S = events_table.c, personal_table.c, streams_table.c
_decode = msgspec.json.Decoder().decode


def rectify(
    connection: Connection, *, stream_id: str, corrections: Sequence[EventCorrected]
) -> None:
    """Inside the writer's transaction: erase the values of the corrected events (in
    `stream_id`) that each correction replaces. A correction of an event not in the stream
    changes nothing here (the decider refuses it)."""
    for correction in corrections:
        found = connection.execute(
            select(_E.position, _E.data)
            .join(streams_table, _S.stream_key == _E.stream_key)
            .where(_S.stream_id == stream_id, _E.event_id == correction.corrects)
        ).first()
        if found is None:
            continue
        position, stored = found
        original = _decode(stored)
        patched = apply_merge_patch(_decode(stored), correction.changes)
        replaced = [
            held
            for held in held_values(connection, _P.position == position)
            if _changed(original, patched, held[1])
        ]
        earlier = _earlier_corrections(connection, stream_id, correction.corrects)
        corrected = _decode(stored)
        for _, changes in earlier:
            corrected = apply_merge_patch(corrected, changes)
        patched = apply_merge_patch(corrected, correction.changes)
        # A value an earlier correction wrote (a personal value of that correction, under
        # `/changes`) that this one replaces is the old value too.
        for at, changes in earlier:
            replaced += [
                held
                for held in held_values(connection, _P.position == at)
                if held[1].startswith("/changes/")
                and _changed({"changes": changes}, {"changes": patched}, held[1])
            ]
        if replaced:
            rewrite_values(connection, sorted(replaced), [stream_id])


def _earlier_corrections(
    connection: Connection, stream_id: str, corrects: str
) -> list[tuple[int, dict[str, object]]]:
    """The position and changes of each stored correction of event `corrects`, in order."""
    rows = connection.execute(
        select(_E.position, _E.data)
        .join(streams_table, _S.stream_key == _E.stream_key)
        .where(_S.stream_id == stream_id, _E.type == EventCorrected.type_name)
        .order_by(_E.position)
    )
    found = []
    for at, data in rows:
        decoded = _decode(data)
        if decoded.get("corrects") == corrects and isinstance(decoded.get("changes"), dict):
            found.append((at, decoded["changes"]))
    return found


def _changed(original: object, patched: object, pointer: str) -> bool:
    try:
        return bool(get_at(patched, pointer) != get_at(original, pointer))
    except PointerError:
        return True  # the correction removed the value (or the part holding it)
