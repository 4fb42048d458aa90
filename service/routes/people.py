"""People and their data over HTTP: who the register names, what it holds about one person
(GDPR Art. 15), and the erasure of a person's data (Art. 17; see `events.erasure`).

Read from `personal_values` and the log itself: no projection is involved, so an answer is
current as soon as an append or erasure is committed.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.responses import Response

from events.catalogue import EventId, LongText, PersonalDataErased, Text
from events.erasure import (
    UnknownNote,
    UnknownPerson,
    erase,
    erase_note,
    mentions,
    people,
    person_stream,
    scrub_files,
    streams_to_refold,
)
from events.personal import log_secret, person_id
from events.store import EventStore
from service.problems import NotFound
from service.responses import JSONResponse
from service.routes import paging
from service.routes.base import Call, Services, recorded_by
from service.routes.paging import DEFAULT_LIMIT, CursorToken, Limit

PersonId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]


class PeopleParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Text | None = None
    """Only the person of this name, written as the register has it (any script; compared
    in Unicode NFC; case and spaces count): how a request that names a person finds their
    `person_id`. An empty list if the register names nobody so."""
    limit: Limit = DEFAULT_LIMIT
    """Most people on this page (1 to 1,000)."""
    cursor: CursorToken | None = None
    """Where this page starts: from the `next` link of the page before (opaque)."""


class PersonParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    person_id: PersonId


class PersonInfo(msgspec.Struct, frozen=True, kw_only=True):
    person_id: str
    streams: list[str]
    """The streams (agreements, delegations) whose events name the person."""
    values: int
    """How many personal values of theirs the log recorded."""
    erased: bool
    """True when none of them is held any more."""


class PeopleList(msgspec.Struct, frozen=True, kw_only=True):
    people: list[PersonInfo]
    """By person id."""
    next: str | None
    """The URL of the next page (also in the `Link` header), null on the last page."""


class MentionInfo(msgspec.Struct, frozen=True, kw_only=True):
    position: int
    stream_id: str
    type: str
    recorded_at: str
    recorded_by: str
    path: str
    """A JSON pointer into the event's data."""
    value: str
    """What the log holds there now: the value, or its placeholder once erased."""
    erased: bool


class ErasureInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The erasure that replaced the person's values by placeholders (`PersonalDataErased`)."""

    position: int
    recorded_at: str
    recorded_by: str
    legal_basis: str
    reason: str


class SubjectAccessReport(msgspec.Struct, frozen=True, kw_only=True):
    person_id: str
    erased: bool
    erasure: ErasureInfo | None
    """The latest erasure of the person's data, null if there was none: what the
    placeholders `[erased <person_id>]` and `[erased]` stand for."""
    mentions: list[MentionInfo]
    """Every value of the person in the log, by position."""


class ErasureRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    legal_basis: Text
    """E.g. `GDPR Art. 17(1)(a)`; recorded in `PersonalDataErased`."""
    reason: LongText
    """Why, for the record (no personal data: it is kept in the log)."""


class ErasureDone(msgspec.Struct, frozen=True, kw_only=True):
    person_id: str
    position: int
    """Where the log records the erasure (`PersonalDataErased`)."""
    created: bool
    """False when the person had nothing left to erase: `position` is the earlier erasure."""
    streams_to_refold: list[str]
    """The streams whose views held the person's values."""


async def list_people(call: Call[PeopleParams, None]) -> Response:
    p = call.params
    bound = paging.binding("people", p)
    cursor = paging.cursor_of(p, bound)
    store = call.services.store
    only = None if p.name is None else person_id(await log_secret(store.engine), p.name)
    found = await people(
        store, after=None if cursor is None else cursor.last, limit=p.limit + 1, only=only
    )
    shown = found[: p.limit]
    link = None
    if len(found) > p.limit:
        link = paging.next_link(call.request, bound, 0, shown[-1].person_id)
    body = PeopleList(
        people=[
            PersonInfo(
                person_id=person.person_id,
                streams=list(person.streams),
                values=person.values,
                erased=person.erased,
            )
            for person in shown
        ],
        next=link,
    )
    return JSONResponse(body, headers=paging.link_header(link))


async def subject_access(call: Call[PersonParams, None]) -> Response:
    person_id = call.params.person_id
    found = await mentions(call.services.store, person_id)
    if not found:
        raise NotFound(f"no event names the person {person_id}")
    body = SubjectAccessReport(
        person_id=person_id,
        erased=all(m.erased for m in found),
        erasure=await latest_erasure(call.services.store, person_id),
        mentions=[
            MentionInfo(
                position=m.position,
                stream_id=m.stream_id,
                type=m.type,
                recorded_at=m.recorded_at,
                recorded_by=m.actor,
                path=m.path,
                value=m.value,
                erased=m.erased,
            )
            for m in found
        ],
    )
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def erase_person(call: Call[PersonParams, ErasureRequest]) -> Response:
    store, person_id = call.services.store, call.params.person_id
    try:
        result = await erase(
            store,
            person_id,
            legal_basis=call.body.legal_basis,
            reason=call.body.reason,
            metadata=recorded_by(call),
        )
    except UnknownPerson as unknown:
        raise NotFound(str(unknown)) from None
    if result.created:
        await settle_erasure(call.services, result.position)
    body = ErasureDone(
        person_id=person_id,
        position=result.position,
        created=result.created,
        streams_to_refold=await streams_to_refold(store, person_id),
    )
    return JSONResponse(body, status_code=201 if result.created else 200)


class NoteParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    event_id: EventId
    """The `event_id` of the `NoteAttached` event whose text is to be erased."""


class NoteErasureDone(msgspec.Struct, frozen=True, kw_only=True):
    event_id: str
    position: int
    """Where the log records the erasure (`NoteErased`, stream `erasure-notes`)."""
    created: bool
    """False when the note's text was erased already: `position` is that erasure."""


async def erase_note_text(call: Call[NoteParams, ErasureRequest]) -> Response:
    event_id = call.params.event_id
    try:
        result = await erase_note(
            call.services.store,
            event_id,
            legal_basis=call.body.legal_basis,
            reason=call.body.reason,
            metadata=recorded_by(call),
        )
    except UnknownNote as unknown:
        raise NotFound(str(unknown)) from None
    if result.created:
        await settle_erasure(call.services, result.position)
    body = NoteErasureDone(event_id=event_id, position=result.position, created=result.created)
    return JSONResponse(body, status_code=201 if result.created else 200)


_PROJECTION_WAIT = 30.0
"""Seconds an erasure waits for the projections to fold it before scrubbing the files again."""


async def settle_erasure(services: Services, position: int) -> None:
    """Wait for the projections to fold the erasure (their rewrite of the views also leaves
    old bytes in the files), then scrub the files again (`events.erasure.scrub_files`)."""
    if services.projections is not None:
        await services.projections.wait_for(position, _PROJECTION_WAIT)
    await scrub_files(services.store)


_decode_erasure = msgspec.json.Decoder(PersonalDataErased).decode


async def latest_erasure(store: EventStore, person_id: str) -> ErasureInfo | None:
    """When, by whom and on what legal basis the person's data was last erased."""
    recorded = [
        e
        for e in await store.read_stream(person_stream(person_id))
        if e.type == "PersonalDataErased"
    ]
    if not recorded:
        return None
    event = recorded[-1]
    data = _decode_erasure(bytes(event.data))
    return ErasureInfo(
        position=event.position,
        recorded_at=event.recorded_at,
        recorded_by=msgspec.json.decode(bytes(event.metadata)).get("actor", ""),
        legal_basis=data.legal_basis,
        reason=data.reason,
    )
