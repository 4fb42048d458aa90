"""The HTTP baseline: bare Starlette with the service's server settings and no I/O.

POST decodes an append body of the service's shape with msgspec and answers 201 with a small
JSON; GET answers a partnership document (the service's own answer, captured beforehand)
encoded with msgspec on every request. What is left of the service's figure above these is
the cost of its own work.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Literal

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DOC_ENV = "AGREEMENTS_BENCH_DOC"


class _Event(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    type: str
    occurred_at: dt.datetime
    data: msgspec.Raw
    event_id: str | None = None


class _Append(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    events: list[_Event]
    expected_version: int | Literal["any", "no_stream"] = "any"
    correlation_id: str | None = None


class _Result(msgspec.Struct, frozen=True, kw_only=True):
    stream_id: str
    from_version: int
    to_version: int
    from_position: int
    to_position: int


_decode_append = msgspec.json.Decoder(_Append).decode
_encode = msgspec.json.Encoder().encode


def create_app(doc: Any = None) -> Starlette:
    state = {"position": 0}

    async def append(request: Request) -> Response:
        body = _decode_append(await request.body())
        state["position"] += len(body.events)
        result = _Result(
            stream_id=request.path_params["stream_id"],
            from_version=1,
            to_version=len(body.events),
            from_position=state["position"],
            to_position=state["position"],
        )
        return Response(_encode(result), status_code=201, media_type="application/json")

    async def partnership(_request: Request) -> Response:
        return Response(_encode(doc), media_type="application/json")

    async def health(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/streams/{stream_id}/events", append, methods=["POST"]),
            Route("/partnerships/{agreement_id}", partnership, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


def app_from_env() -> Starlette:
    """For uvicorn's factory mode: the GET document comes from the file in $AGREEMENTS_BENCH_DOC."""
    path = os.environ.get(DOC_ENV)
    doc = msgspec.json.decode(Path(path).read_bytes()) if path else {"partnership": None}
    return create_app(doc)
