"""The read models: partnerships, follow-up owners, delegations.

Every read takes `as_of_position` (the state right after that log position) and
`wait_for_position` (read-your-writes: pass the `to_position` an append returned). The wait
is bounded by the server's `max_wait_seconds` (and skipped for a position past the log's
head, which no append has returned yet); if the projections have not reached the position by
then, the read is answered anyway, never failed (no 504): the `position` member of the body
says which log position the answer reflects, so a client can tell and retry. Overdue
follow-ups are judged against the server's today (UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

import msgspec
from starlette.responses import Response

from projections.delegation_view import Delegation
from projections.facade import Projections
from projections.owner_view import OwnerSummary
from projections.partnership_view import Partnership
from service.problems import NotFound
from service.responses import JSONResponse
from service.routes.base import POSITION_MAX, Call, Services

Position = Annotated[int, msgspec.Meta(ge=0, le=POSITION_MAX)]
Filter = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ReadParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    as_of_position: Position | None = None
    """Answer with the state right after this log position (history)."""
    wait_for_position: Position | None = None
    """Wait (bounded) until the projections have applied this position before answering."""


class PartnershipFilters(ReadParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    status: Literal["active", "terminated"] | None = None
    owner: Filter | None = None
    """An owner id (see /owners)."""
    sector: Filter | None = None


class PartnershipParams(ReadParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    agreement_id: Id


class OwnerParams(ReadParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    owner_id: Id


class DelegationParams(ReadParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    delegation_id: Id


class PartnershipList(msgspec.Struct, frozen=True, kw_only=True):
    partnerships: Sequence[Partnership]
    position: int


class PartnershipRead(msgspec.Struct, frozen=True, kw_only=True):
    partnership: Partnership
    position: int


class OwnerList(msgspec.Struct, frozen=True, kw_only=True):
    owners: Sequence[OwnerSummary]
    position: int


class OwnerRead(msgspec.Struct, frozen=True, kw_only=True):
    owner: OwnerSummary
    position: int


class DelegationList(msgspec.Struct, frozen=True, kw_only=True):
    delegations: Sequence[Delegation]
    position: int


class DelegationRead(msgspec.Struct, frozen=True, kw_only=True):
    delegation: Delegation
    position: int


async def _ready(services: Services, params: ReadParams) -> Projections:
    """The facade, once it has caught up with `wait_for_position` (or the wait ran out)."""
    projections = services.projections
    if projections is None:
        raise NotFound("projections are not running in this process")
    wanted = params.wait_for_position
    if wanted is None or params.as_of_position is not None or projections.position >= wanted:
        return projections
    # A position past the head was never handed out by an append: waiting cannot help.
    if wanted <= await services.store.head():
        await projections.wait_for(wanted, services.settings.max_wait_seconds)
    return projections


def _raw_list(key: str, docs: list[bytes], position: int) -> JSONResponse:
    """The stored JSON documents as they are: no decode and re-encode on the hot path."""
    return JSONResponse({key: [msgspec.Raw(doc) for doc in docs], "position": position})


def _raw_one(key: str, doc: bytes | None, position: int, missing: str) -> JSONResponse:
    if doc is None:
        raise NotFound(missing)
    return JSONResponse({key: msgspec.Raw(doc), "position": position})


async def list_partnerships(call: Call[PartnershipFilters, None]) -> Response:
    p = call.params
    docs, position = await (await _ready(call.services, p)).list_partnerships_json(
        status=p.status, owner=p.owner, sector=p.sector, as_of_position=p.as_of_position
    )
    return _raw_list("partnerships", docs, position)


async def get_partnership(call: Call[PartnershipParams, None]) -> Response:
    p = call.params
    doc, position = await (await _ready(call.services, p)).get_partnership_json(
        p.agreement_id, as_of_position=p.as_of_position
    )
    return _raw_one("partnership", doc, position, f"no partnership {p.agreement_id!r}")


async def list_owners(call: Call[ReadParams, None]) -> Response:
    p = call.params
    found, position = await (await _ready(call.services, p)).list_owners(
        today=call.services.settings.today(), as_of_position=p.as_of_position
    )
    return JSONResponse(OwnerList(owners=found, position=position))


async def get_owner(call: Call[OwnerParams, None]) -> Response:
    p = call.params
    found, position = await (await _ready(call.services, p)).get_owner(
        p.owner_id, today=call.services.settings.today(), as_of_position=p.as_of_position
    )
    if found is None:
        raise NotFound(f"no follow-up owner {p.owner_id!r}")
    return JSONResponse(OwnerRead(owner=found, position=position))


async def list_delegations(call: Call[ReadParams, None]) -> Response:
    p = call.params
    docs, position = await (await _ready(call.services, p)).list_delegations_json(
        as_of_position=p.as_of_position
    )
    return _raw_list("delegations", docs, position)


async def get_delegation(call: Call[DelegationParams, None]) -> Response:
    p = call.params
    doc, position = await (await _ready(call.services, p)).get_delegation_json(
        p.delegation_id, as_of_position=p.as_of_position
    )
    return _raw_one("delegation", doc, position, f"no delegation {p.delegation_id!r}")
