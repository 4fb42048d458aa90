"""A partnership's history for auditors: every change, who recorded it, when, and the state
after it (the same fold the live projection uses, replayed step by step)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import msgspec
from starlette.responses import Response

from projections import partnership_view
from projections.partnership_view import Partnership
from projections.reader import stream_id
from service.problems import NotFound
from service.responses import JSONResponse
from service.routes.base import Call

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class HistoryParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    agreement_id: Id


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


class History(msgspec.Struct, frozen=True, kw_only=True):
    agreement_id: str
    changes: Sequence[Change]
    position: int
    """The log position of the last change."""


async def partnership_history(call: Call[HistoryParams, None]) -> Response:
    agreement_id = stream_id(partnership_view.CATEGORY, call.params.agreement_id)
    events = await call.services.store.read_stream(agreement_id)
    if not events:
        raise NotFound(f"no partnership {call.params.agreement_id!r}")
    changes: list[Change] = []
    state: Partnership | None = None
    for event in events:
        state = partnership_view.evolve(state, event)
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
                state=state,
            )
        )
    return JSONResponse(
        History(agreement_id=agreement_id, changes=changes, position=events[-1].position)
    )
