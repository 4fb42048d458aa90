"""Reading the whole log in position order: the auditors' view.

A page is read up to the head taken at the start of the request, so `head` and the page agree
and `next_after` is null exactly when nothing up to `head` is left to read.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.responses import Response

from events.envelope import RecordedEvent
from service.responses import JSONResponse
from service.routes.base import POSITION_MAX, Call

Position = Annotated[int, msgspec.Meta(ge=0, le=POSITION_MAX)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=POSITION_MAX)]
TypeName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class LogParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    after: Position = 0
    """Return events with a position greater than this."""
    limit: Limit = 500
    """At most this many events (capped by the server, 1000 by default)."""
    type: Annotated[list[TypeName], msgspec.Meta(max_length=50)] = []
    """Only events of these types (repeat the parameter for several)."""
    category: Annotated[str, msgspec.Meta(pattern=r"^[a-z]{1,32}$")] | None = None
    """Only events of streams in this category (`agreement`, `delegation`, ...)."""


class LogPage(msgspec.Struct, frozen=True, kw_only=True):
    events: list[RecordedEvent]
    next_after: int | None
    """Pass as `after` for the next page; null when this page reached `head`."""
    head: int
    """The last position in the log when the page was read."""


async def read(call: Call[LogParams, None]) -> Response:
    params, store = call.params, call.services.store
    limit = min(params.limit, call.services.settings.max_log_limit)
    head = await store.head()
    events = await store.read_all(
        after=params.after,
        limit=limit,
        types=params.type or None,
        category=params.category,
        until=head,
    )
    more = len(events) == limit and events[-1].position < head
    next_after = events[-1].position if more else None
    return JSONResponse(LogPage(events=events, next_after=next_after, head=head))
