"""Read-only keys for owners' calendar feeds, issued and revoked as events.

Calendar programs subscribe to a URL and cannot send an `Authorization` header, so a feed
also accepts `?key=<feed key>`. A key is `cal_<key_id>_<secret>` (16 hex digits, then 256
bits of url-safe randomness); only its sha256 is recorded (`CalendarKeyIssued`, stream
`admin-calendar-keys`, next to the API tokens' stream), with the one owner whose feed it
opens; `CalendarKeyRevoked` ends it. A key is no bearer token: it opens that feed and
nothing else, and no other route looks at it.

Keys are checked against the stream as it is in the database at each request (a short
stream read: feeds are polled every few minutes, not many times a second), so an issue or
revocation on any instance takes effect at once everywhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from typing import TYPE_CHECKING

import msgspec

from events.catalogue import CalendarKeyIssued, CalendarKeyRevoked, EventData, decoder_for
from events.envelope import Metadata, Proposed

if TYPE_CHECKING:
    from events.store import EventStore

STREAM = "admin-calendar-keys"

_KEY = re.compile(r"cal_(?P<key_id>[0-9a-f]{16})_[A-Za-z0-9_-]{43}")


class CalendarKey(msgspec.Struct, frozen=True, kw_only=True):
    """What the stream says of a key (never its secret)."""

    key_id: str
    owner_id: str
    key_hash: str
    revoked: bool = False


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def keys(store: EventStore) -> dict[str, CalendarKey]:
    """Every key ever issued, by id, as the stream says now."""
    found: dict[str, CalendarKey] = {}
    for event in await store.read_stream(STREAM):
        decoder = decoder_for(event.type)
        if decoder is None:
            continue
        match decoder.decode(event.data):
            case CalendarKeyIssued(key_id=key_id, owner_id=owner_id, key_hash=key_hash):
                found[key_id] = CalendarKey(key_id=key_id, owner_id=owner_id, key_hash=key_hash)
            case CalendarKeyRevoked(key_id=key_id) if key_id in found:
                found[key_id] = msgspec.structs.replace(found[key_id], revoked=True)
            case _:
                pass
    return found


async def issue(store: EventStore, owner_id: str, metadata: Metadata) -> tuple[str, str]:
    """A new key for `owner_id`'s feed: (key id, the key itself, shown only now)."""
    key_id = secrets.token_hex(8)
    key = f"cal_{key_id}_{secrets.token_urlsafe(32)}"
    data = CalendarKeyIssued(key_id=key_id, owner_id=owner_id, key_hash=hash_key(key))
    await _append(store, data, metadata)
    return key_id, key


async def revoke(store: EventStore, owner_id: str, key_id: str, metadata: Metadata) -> bool:
    """Revoke `owner_id`'s key `key_id`; False if it has no such active key."""
    known = (await keys(store)).get(key_id)
    if known is None or known.owner_id != owner_id or known.revoked:
        return False
    await _append(store, CalendarKeyRevoked(key_id=key_id), metadata)
    return True


async def opens(store: EventStore, owner_id: str, key: str) -> bool:
    """True if `key` is an active key for `owner_id`'s feed (and no other)."""
    match = _KEY.fullmatch(key)
    if match is None:
        return False
    known = (await keys(store)).get(match["key_id"])
    if known is None or known.revoked or known.owner_id != owner_id:
        return False
    return hmac.compare_digest(known.key_hash, hash_key(key))


async def _append(store: EventStore, data: EventData, metadata: Metadata) -> None:
    event = Proposed(type=data.type_name, data=data, occurred_at=dt.datetime.now(dt.UTC))
    await store.append(STREAM, [event], expected_version="any", metadata=metadata)
