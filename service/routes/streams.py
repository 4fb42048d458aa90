"""Recording events in a stream, and reading one stream back.

The body is decoded strictly (unknown fields refused); each event's `data` stays raw bytes
here and is validated by the store against its type, so the JSON paths of its errors point
into the request (`$.events[0].data.parties[1].signatory.name`). The actor is the token's.
Streams outside `RECORDABLE_CATEGORIES` (the `admin` category, which holds tokens) are
written only by the service itself (/admin/tokens) and read only by auditors and admins.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec
from starlette.responses import Response

from events.catalogue import Text
from events.envelope import Proposed, RecordedEvent
from events.rules import RECORDABLE_CATEGORIES, STREAM_ID_PATTERN, decider_for
from service.auth import Forbidden
from service.problems import NotFound
from service.responses import JSONResponse
from service.routes.base import POSITION_MAX, Call, recorded_by

StreamId = Annotated[str, msgspec.Meta(pattern=STREAM_ID_PATTERN + r"(?!\n)", max_length=160)]
"""`(?!\n)`: Python's `$` would also match before a final line feed."""
VERSION_MAX = 2**31 - 1
"""A stream's version is a 32-bit integer in the log (PostgreSQL `integer`): a stream holds at
most this many events, and a larger version in a request is refused, not sent to the database."""
Version = Annotated[int, msgspec.Meta(ge=0, le=VERSION_MAX)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=POSITION_MAX)]
ConversationId = Text
"""One line, 1 to 200 characters: it is stored in every event's metadata."""

_AUDIT_ROLES = frozenset({"auditor", "admin"})


class EventIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    type: Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["NoteAttached"])]
    occurred_at: (
        Annotated[
            dt.datetime,
            msgspec.Meta(
                tz=True,
                examples=["2023-01-10T09:00:00Z"],
                description=(
                    "When it happened (RFC 3339 with an offset, years 1900 to 2200). Left"
                    " out, it happened when it was recorded: the stored `occurred_at` is the"
                    " event's `recorded_at`."
                ),
            ),
        ]
        | None
    ) = None
    """Business time: when it happened, as the recorder says (RFC 3339 with an offset). Left
    out, the event happened when it was recorded: the stored `occurred_at` is its
    `recorded_at`."""
    data: msgspec.Raw
    """The event's data, a JSON object of the shape its `type` requires."""
    event_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    """A UUID chosen by the client; send one to make retries safe."""


class AppendRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    events: Annotated[list[EventIn], msgspec.Meta(extra_json_schema={"minItems": 1})]
    """One to the server's limit (`AGREEMENTS_MAX_EVENTS_PER_BATCH`, 500 by default), all or
    nothing. Counted by the store, not while decoding: of a key given twice the last one
    counts, so an earlier `"events": []` is no refusal."""
    expected_version: Version | Literal["any", "no_stream"] = "any"
    correlation_id: ConversationId | None = None
    causation_id: ConversationId | None = None


class AppendResponse(msgspec.Struct, frozen=True, kw_only=True):
    stream_id: str
    from_version: int
    to_version: int
    from_position: int
    to_position: int


class StreamParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    stream_id: Annotated[StreamId, msgspec.Meta(examples=["agreement-imec-rapidus-2022"])]


class StreamReadParams(StreamParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    after_version: Version = 0
    limit: Limit = 100


class StreamPage(msgspec.Struct, frozen=True, kw_only=True):
    events: list[RecordedEvent]
    version: int
    """The stream's current version (it may have more events than this page)."""


async def append(call: Call[StreamParams, AppendRequest]) -> Response:
    stream_id, request, principal = call.params.stream_id, call.body, call.principal
    assert principal is not None
    if stream_id.split("-", 1)[0] not in RECORDABLE_CATEGORIES:
        decider_for(stream_id)  # an unknown category is a rule violation (422) ...
        raise Forbidden("this stream is written only by the service itself")  # ... a known one

    metadata = recorded_by(
        call, correlation_id=request.correlation_id, causation_id=request.causation_id
    )
    proposed = [
        Proposed(type=e.type, data=bytes(e.data), occurred_at=e.occurred_at, event_id=e.event_id)
        for e in request.events
    ]
    result = await call.services.store.append(
        stream_id, proposed, expected_version=request.expected_version, metadata=metadata
    )
    call.services.metrics.appended(result)
    body = AppendResponse(
        stream_id=result.stream_id,
        from_version=result.from_version,
        to_version=result.to_version,
        from_position=result.from_position,
        to_position=result.to_position,
    )
    return JSONResponse(body, status_code=201 if result.created else 200)


async def read(call: Call[StreamReadParams, None]) -> Response:
    params, principal = call.params, call.principal
    assert principal is not None
    category = params.stream_id.split("-", 1)[0]
    if category not in RECORDABLE_CATEGORIES and principal.role not in _AUDIT_ROLES:
        raise Forbidden("service streams are readable by auditors and admins only")
    store = call.services.store
    limit = min(params.limit, call.services.settings.max_log_limit)
    events = await store.read_stream(
        params.stream_id, after_version=params.after_version, limit=limit
    )
    if events and len(events) < limit:
        version = events[-1].version  # the page reached the stream's end
    else:
        version = await store.stream_version(params.stream_id)
    if version == 0:
        raise NotFound(f"no stream {params.stream_id!r}")
    return JSONResponse(StreamPage(events=events, version=version))
