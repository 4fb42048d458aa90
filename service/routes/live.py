"""Live updates over server-sent events: the log as it grows, and what the projections changed.

`GET /events/live` sends one `recorded` message per event (`id:` its position, `data:` the
event as `/events` shows it), first every event after the starting position, then each new
one as it commits; `GET /live` sends `changed` messages once the projections have applied a
change. Both start after `Last-Event-ID` when the client sends it (a browser's `EventSource`
does on reconnecting), else after `after`: the header wins, since it says where the client's
own stream got to. See `service.subscriptions` for why nothing is skipped or repeated.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
import msgspec
from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from events.rules import STREAM_ID_PATTERN
from service.live import Live
from service.problems import InvalidInput
from service.responses import FieldProblem
from service.routes.base import POSITION_MAX, Call
from service.routes.log import Position, TypeName
from service.subscriptions import EVERYTHING, Hub, LogFilter, Subscriber, TooManySubscribers

RETRY_AFTER_SECONDS = 5
SHUTDOWN_GRACE_SECONDS = 2.0
"""On shutdown a stream ends at once, cleanly, unless its client is not reading; then it
is cut after this long."""

EVENT_FORMAT = """\
`text/event-stream`. One message per event, in log order:

```
id: 42
event: recorded
data: {"position":42,"event_id":"…","stream_id":"agreement-…","type":"AgreementSigned",…}
```

`data` is the event exactly as `GET /events` shows it; `id` is always its position, also with
filters. A comment line (`: ping …`) is sent at least every 15 s. A client that falls too far
behind gets `event: overflow` (data `{"position": P}`, the last position it was sent) and the
stream ends: reconnect with `Last-Event-ID` (or `after`) to catch up from the log. The stream
also ends when the token is revoked or the server shuts down. `Last-Event-ID`, when sent, wins
over `after`. Past the process's subscriber limit: 503 with `Retry-After`."""

CHANGE_FORMAT = """\
`text/event-stream`. One message each time the projections have applied new events:

```
id: 42
event: changed
data: {"position":42,"partnerships":["agreement-…"],"owners":["…"],"delegations":[],…}
```

`id`/`position` is the position the projections reached; the lists name what changed since
the previous message, so a dashboard re-reads only those (`everything: true`: too much changed
to list, re-read all). Several advances may be merged into one message. On resume
(`Last-Event-ID` or `after`) the first message names everything changed since that position.
Without either, messages start with the next change. Heartbeats, shutdown, revocation and
the subscriber limit are as for `/events/live`."""


class LiveLogParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    after: Position = 0
    """Send the events with a position greater than this (`Last-Event-ID` wins)."""
    type: Annotated[list[TypeName], msgspec.Meta(max_length=50)] = []
    """Only events of these types (repeat the parameter for several)."""
    category: Annotated[str, msgspec.Meta(pattern=r"^[a-z]{1,32}$")] | None = None
    """Only events of streams in this category (`agreement`, `delegation`, ...)."""
    stream: Annotated[str, msgspec.Meta(pattern=STREAM_ID_PATTERN, max_length=200)] | None = None
    """Only events of this stream."""


class LiveParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    after: Position | None = None
    """Name what changed since this position first (`Last-Event-ID` wins); without it,
    start with the next change."""


async def follow_log(call: Call[LiveLogParams, None]) -> Response:
    params, live = call.params, _live(call)
    start = _last_event_id(call.request)
    wants = LogFilter(frozenset(params.type), params.category, params.stream)
    subscriber = _join(live.hub, params.after if start is None else start, call, wants=wants)
    return _stream(call, live.hub, subscriber, live.hub.follow(subscriber))


async def follow_changes(call: Call[LiveParams, None]) -> Response:
    live = _live(call)
    feed = live.changes
    if feed is None:
        raise HTTPException(503, "this process runs no projections", {"Retry-After": "5"})
    start = _last_event_id(call.request)
    if start is None:
        start = call.params.after
    subscriber = _join(live.hub, feed.applied if start is None else start, call, follows_log=False)

    async def messages() -> AsyncIterator[bytes]:
        feed.watchers += 1
        try:
            while subscriber.ending is None:
                subscriber.wake.clear()
                if feed.position <= subscriber.position:
                    await subscriber.wake.wait()
                    continue
                change = await feed.since(subscriber.position)
                yield ServerSentEvent(
                    msgspec.json.encode(change).decode(),
                    id=str(change.position),
                    event="changed",
                ).encode()
                call.services.metrics.live_messages.inc()
                subscriber.position = change.position
        finally:
            feed.watchers -= 1

    return _stream(call, live.hub, subscriber, messages())


def _live(call: Call[Any, None]) -> Live:
    if call.services.live is None:
        raise HTTPException(503, "live updates are not running", {"Retry-After": "5"})
    return call.services.live


def _join(
    hub: Hub,
    position: int,
    call: Call[Any, None],
    *,
    wants: LogFilter = EVERYTHING,
    follows_log: bool = True,
) -> Subscriber:
    token_id = call.principal.token_id if call.principal is not None else None
    try:
        return hub.join(position, token_id, wants=wants, follows_log=follows_log)
    except TooManySubscribers:
        raise HTTPException(
            503,
            f"this process already serves {hub.max_subscribers} live subscribers; retry later",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None


def _last_event_id(request: Request) -> int | None:
    raw = request.headers.get("last-event-id")
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip()
    if not (value.isascii() and value.isdigit()) or int(value) > POSITION_MAX:
        raise InvalidInput(
            [FieldProblem("header.Last-Event-ID", "must be a position: a whole number >= 0")]
        )
    return int(value)


def _stream(
    call: Call[Any, None], hub: Hub, subscriber: Subscriber, messages: AsyncIterator[bytes]
) -> Response:
    settings = call.services.settings
    return _LiveResponse(
        hub,
        subscriber,
        messages,
        ping=settings.live_heartbeat_seconds,
        send_timeout=settings.live_send_timeout_seconds,
    )


class _LiveResponse(EventSourceResponse):
    """An SSE response that gives its subscriber's place back however the stream ends."""

    def __init__(
        self,
        hub: Hub,
        subscriber: Subscriber,
        content: AsyncIterator[bytes],
        *,
        ping: float,
        send_timeout: float,
    ) -> None:
        self._shutdown = anyio.Event()
        super().__init__(
            content,
            ping=ping,
            send_timeout=send_timeout,
            shutdown_event=self._shutdown,
            shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
        )
        self._hub = hub
        self._subscriber = subscriber

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def end_on_shutdown() -> None:
            await self._shutdown.wait()
            self._subscriber.end("shutdown")

        watcher = asyncio.create_task(end_on_shutdown())
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            pass  # the client took nothing for a long while: it is gone or stuck
        finally:
            watcher.cancel()
            self._hub.leave(self._subscriber)
