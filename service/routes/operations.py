"""Operations: the front page and health (open to all), metrics, and the OpenAPI document."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

import msgspec
from starlette.responses import Response

from service.metrics import CONTENT_TYPE
from service.responses import JSONResponse
from service.routes.base import Call

log = logging.getLogger(__name__)

_HEALTH_TIMEOUT = 2.0


class ProjectionHealth(msgspec.Struct, frozen=True, kw_only=True):
    position: int
    """The last log position the projections have applied."""
    lag: int
    """Events in the log not applied yet."""


class Health(msgspec.Struct, frozen=True, kw_only=True):
    status: Literal["ok", "unavailable"]
    database: Literal["reachable", "unreachable"]
    head: int | None
    projections: ProjectionHealth | None


async def health(call: Call[Any, None]) -> Response:
    """200 when the database answers (within two seconds), 503 otherwise."""
    services = call.services
    try:
        async with asyncio.timeout(_HEALTH_TIMEOUT):
            head = await services.store.head()
    except Exception as error:
        log.warning("health check: database unreachable (%s)", type(error).__name__)
        down = Health(status="unavailable", database="unreachable", head=None, projections=None)
        return JSONResponse(down, status_code=503, headers={"Retry-After": "1"})
    projected = services.projections.position if services.projections is not None else None
    services.metrics.positions(head, projected)
    lag = None
    if projected is not None:
        lag = ProjectionHealth(position=projected, lag=max(head - projected, 0))
    return JSONResponse(Health(status="ok", database="reachable", head=head, projections=lag))


async def metrics(call: Call[Any, None]) -> Response:
    services = call.services
    projected = services.projections.position if services.projections is not None else None
    services.metrics.positions(await services.store.head(), projected)
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)


async def openapi(call: Call[Any, None]) -> Response:
    return Response(call.services.openapi, media_type="application/json")
