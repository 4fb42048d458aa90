"""A partnership's history for auditors: every change, who recorded it, when, and the state
after it (the live projection's own fold pipeline, `projections.fold`, step by step:
corrections show from their position on).

A correction (EventCorrected) names the event it corrects (`corrects`), and a corrected event
lists the positions of its corrections (`corrected_by`): the stored original and the
correction, with who made it and why, side by side.

Paged by version: each change carries a whole state, so an answer holding every change of a long
stream grows with the square of its length. A page holds at most `limit` changes (capped by
`max_history_limit`); the state before the page is folded from the earlier events, read in
batches and not kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated
from urllib.parse import quote

import msgspec
from starlette.responses import Response

from events.envelope import RecordedEvent
from events.store import EventStore
from projections import partnership_view, partnerships
from projections.as_of import Cut, Held, fold_kept
from projections.fold import Fold, log_row
from projections.partnership_view import Partnership
from projections.reader import stream_id
from service.problems import NotFound
from service.responses import JSONResponse
from service.routes.base import POSITION_MAX, Call

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Version = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=POSITION_MAX)]

_FOLD_BATCH = 1000


class HistoryParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    agreement_id: Id
    after_version: Version = 0
    """Start after this version of the agreement's stream (0: from its first event)."""
    limit: Limit = 100
    """At most this many changes (capped by the server, 1000 by default)."""


class CorrectedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The event a correction corrects, as recorded in this stream."""

    event_id: str
    type: str
    version: int
    position: int


class Change(msgspec.Struct, frozen=True, kw_only=True):
    position: int
    version: int
    event_id: str
    type: str
    occurred_at: str
    recorded_at: str
    metadata: msgspec.Raw
    """Who recorded it (`actor`, `token_id`), through which client, in which conversation."""
    data: msgspec.Raw
    hash: str
    state: Partnership | None
    """The partnership right after this change."""
    corrects: CorrectedEvent | None = None
    """For an EventCorrected: the event it corrects (its `data` holds the changes and why)."""
    corrected_by: Sequence[int] = ()
    """The positions of the corrections of this event, oldest first (its `data` is the
    original, as recorded)."""


class History(msgspec.Struct, frozen=True, kw_only=True):
    agreement_id: str
    changes: Sequence[Change]
    position: int
    """The log position of the last change on this page (of the last one before it, if the
    page is empty)."""
    next_after_version: int | None = None
    """Pass as `after_version` for the next page; null when this page reached the end."""
    next: str | None = None
    """The path and query of the next page; null when this page reached the end."""


async def partnership_history(call: Call[HistoryParams, None]) -> Response:
    params, store = call.params, call.services.store
    agreement_id = stream_id(partnership_view.CATEGORY, params.agreement_id)
    limit = min(params.limit, call.services.settings.max_history_limit)
    views: dict[str, Partnership] = {}
    fold = Fold({partnerships.NAME: Held(partnership_view.apply, views)})
    everything = Cut()
    position = 0
    folded = 0
    while folded < params.after_version:
        earlier = await store.read_stream(
            agreement_id,
            after_version=folded,
            limit=min(_FOLD_BATCH, params.after_version - folded),
        )
        if not earlier:
            break
        await fold_kept(store.engine, fold, [log_row(event) for event in earlier], everything)
        folded, position = earlier[-1].version, earlier[-1].position
    events = await store.read_stream(agreement_id, after_version=folded, limit=limit + 1)
    if not events and not folded:
        raise NotFound(f"no partnership {params.agreement_id!r}")
    more = len(events) > limit
    corrections = await _corrections(store, agreement_id)
    corrected_by: dict[str, list[int]] = {}
    for correction in corrections:
        corrected_by.setdefault(_corrected_id(correction), []).append(correction.position)
    targets = await _targets(store, agreement_id, events[:limit], corrected_by)
    changes: list[Change] = []
    for event in events[:limit]:
        await fold_kept(store.engine, fold, [log_row(event)], everything)
        view = views.get(agreement_id)
        target = targets.get(_corrected_id(event)) if event.type == "EventCorrected" else None
        changes.append(
            Change(
                position=event.position,
                version=event.version,
                event_id=event.event_id,
                type=event.type,
                occurred_at=event.occurred_at,
                recorded_at=event.recorded_at,
                metadata=event.metadata,
                data=event.data,
                hash=event.hash,
                state=None if view is None else partnership_view.copy(view),
                corrects=None
                if target is None
                else CorrectedEvent(
                    event_id=target.event_id,
                    type=target.type,
                    version=target.version,
                    position=target.position,
                ),
                corrected_by=corrected_by.get(event.event_id, ()),
            )
        )
    if changes:
        position = changes[-1].position
    next_after = changes[-1].version if more else None
    link = (
        f"/partnerships/{quote(params.agreement_id, safe='')}/history"
        f"?after_version={next_after}&limit={limit}"
        if next_after is not None
        else None
    )
    return JSONResponse(
        History(
            agreement_id=agreement_id,
            changes=changes,
            position=position,
            next_after_version=next_after,
            next=link,
        )
    )


_CORRECTS = msgspec.json.Decoder(dict[str, object])


def _corrected_id(correction: RecordedEvent) -> str:
    return str(_CORRECTS.decode(correction.data).get("corrects", ""))


async def _corrections(store: EventStore, agreement_id: str) -> list[RecordedEvent]:
    """Every EventCorrected of the stream (few: read by type, not the whole stream)."""
    found: list[RecordedEvent] = []
    after = 0
    while True:
        batch = await store.read_all(
            after=after, limit=_FOLD_BATCH, types=["EventCorrected"], stream=agreement_id
        )
        found.extend(batch)
        if len(batch) < _FOLD_BATCH:
            return found
        after = batch[-1].position


async def _targets(
    store: EventStore,
    agreement_id: str,
    page: Sequence[RecordedEvent],
    corrected_by: dict[str, list[int]],
) -> dict[str, RecordedEvent]:
    """The events corrected by the corrections on this page, by event id."""
    wanted = {_corrected_id(e) for e in page if e.type == "EventCorrected"}
    found = {e.event_id: e for e in page if e.event_id in wanted}
    missing = wanted - found.keys()
    if missing:  # corrected on an earlier page: its version is before this page's first
        earlier = await store.read_stream(agreement_id, until_position=page[0].position)
        found.update((e.event_id, e) for e in earlier if e.event_id in missing)
    return found
