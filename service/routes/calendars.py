"""Owners' calendar feeds over HTTP, and the keys that open them without a bearer token.

`GET /owners/{owner_id}/calendar.ics` takes either an `Authorization` header (any role that
reads projections) or `?key=<feed key>` from `POST /owners/{owner_id}/calendar-keys`. A key
opens that one feed: another owner's feed refuses it, and every other route refuses a `key`
parameter as unknown. A refused key is answered 401 without saying why in more detail (a
probe learns nothing), and the security log records the path, never the query string.
Feeds carry ETags: a calendar program polling with If-None-Match gets 304 while nothing
changed.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from starlette.responses import Response

from projections import follow_ups
from projections.pages import Keyset
from service import calendar_keys, calendars
from service.auth import Unauthenticated
from service.problems import NotFound
from service.routes.base import Call, recorded_by
from service.routes.projections import etag, not_modified

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
FeedKey = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
KeyId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{16}$")]

_PAGE = 1000


class FeedParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    owner_id: Id
    key: FeedKey | None = None
    """A feed key for this owner (for calendar programs, which cannot send headers)."""


class OwnerPath(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    owner_id: Id


class KeyPath(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    owner_id: Id
    key_id: KeyId


class FeedKeyIssued(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    key: str
    """The secret: shown in this answer only (only its hash is recorded)."""
    url: str
    """The feed's URL with the key, relative to the service: give it to a calendar program."""


class FeedKeyRevoked(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    revoked: bool


async def feed(call: Call[FeedParams, None]) -> Response:
    p = call.params
    services = call.services
    if p.key is not None and not await calendar_keys.opens(services.store, p.owner_id, p.key):
        raise Unauthenticated("the feed key is unknown, revoked or for another feed")
    projections = services.projections
    if projections is None:
        raise NotFound("projections are not running in this process")
    today = services.settings.current_date()
    filters = follow_ups.Filters(today=today, owner=p.owner_id)
    items: list[follow_ups.FollowUpItem] = []
    keyset = Keyset(None, None, _PAGE)
    position = None
    while True:
        page = await projections.follow_up_page(keyset, filters)
        position = page.position if position is None else position
        items += page.items
        if not page.more or not page.items:
            break
        last = follow_ups.encode_key(follow_ups.key_of(page.items[-1]))
        keyset = Keyset(None, last, _PAGE)
    views, views_position = await projections.list_partnerships(owner=p.owner_id, today=today)
    expiries = [e for view in views if (e := calendars.expiry_of(view, today)) is not None]
    if not items and not views:
        summary, _ = await projections.get_owner(p.owner_id, today=today)
        if summary is None:
            raise NotFound(f"no follow-up owner {p.owner_id!r}")
    tag = etag(position or 0, views_position, today, "ics")
    headers = {"etag": tag, "cache-control": "no-store"}
    if not_modified(call.request, tag):
        return Response(status_code=304, headers=headers)
    stamp = dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC)
    body = calendars.feed(p.owner_id, items, stamp, expiries)
    return Response(body, media_type="text/calendar", headers=headers)


async def issue_key(call: Call[OwnerPath, None]) -> Response:
    owner_id = call.params.owner_id
    projections = call.services.projections
    if projections is None:
        raise NotFound("projections are not running in this process")
    today = call.services.settings.current_date()
    summary, _ = await projections.get_owner(owner_id, today=today)
    if summary is None:
        raise NotFound(f"no follow-up owner {owner_id!r}")
    key_id, key = await calendar_keys.issue(call.services.store, owner_id, recorded_by(call))
    path = call.request.url_for("owner_calendar", owner_id=owner_id).path
    body = FeedKeyIssued(key_id=key_id, key=key, url=f"{path}?key={key}")
    return Response(msgspec.json.encode(body), status_code=201, media_type="application/json")


async def revoke_key(call: Call[KeyPath, None]) -> Response:
    p = call.params
    if not await calendar_keys.revoke(call.services.store, p.owner_id, p.key_id, recorded_by(call)):
        raise NotFound(f"no active calendar key {p.key_id!r} for {p.owner_id!r}")
    body = FeedKeyRevoked(key_id=p.key_id, revoked=True)
    return Response(msgspec.json.encode(body), media_type="application/json")
