"""Opaque cursors for paged lists: where the next page starts, bound to the list it came from.

A cursor carries the list's name, a digest of the request's filters and as-of parameters,
the log position the walk is fixed at and the last id shown, followed by a MAC over them
(HMAC-SHA256, truncated), all base64url. It is opaque to clients: they follow `next`.
A cursor that does not decode, whose MAC does not match (garbled or edited), or that was
made for another list or other filters is refused with 422 naming `query.cursor`: following
it would silently give a page of some other walk.

The MAC key is a fixed constant, shared by every instance so that any of them continues a
walk begun on another: it detects damage and hand edits, it is not a secret. A forged cursor
could only name a position and an id, and answer what the caller may read anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable

import msgspec

from service.problems import InvalidInput
from service.responses import FieldProblem

_KEY = b"agreements/list-cursor/v1"
_MAC_BYTES = 12


class Cursor(msgspec.Struct, frozen=True, array_like=True):
    binding: str
    """The list and its filters (see `binding`)."""
    position: int
    """The log position the walk is fixed at."""
    last: str
    """The id of the last item shown so far."""


_decoder = msgspec.json.Decoder(Cursor)
_encode = msgspec.json.Encoder().encode


def binding(list_name: str, parameters: Iterable[tuple[str, object]]) -> str:
    """A digest of the list and the parameters that choose its items (not `limit`)."""
    text = _encode([list_name, sorted((k, str(v)) for k, v in parameters if v is not None)])
    return hashlib.sha256(text).hexdigest()[:24]


def encode(cursor: Cursor) -> str:
    payload = _encode(cursor)
    mac = hmac.new(_KEY, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(payload + mac).rstrip(b"=").decode("ascii")


def decode(token: str, expected_binding: str) -> Cursor:
    """The cursor `token` names, if it is intact and was made for `expected_binding`."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise _refused("is not a cursor this service gave out") from None
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    expected = hmac.new(_KEY, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, expected):
        raise _refused("is not a cursor this service gave out (garbled or edited)")
    try:
        cursor = _decoder.decode(payload)
    except msgspec.DecodeError:
        raise _refused("is not a cursor this service gave out") from None
    if cursor.binding != expected_binding:
        raise _refused(
            "belongs to another list or to other filters: follow the `next` link as given"
        )
    return cursor


def _refused(message: str) -> InvalidInput:
    return InvalidInput([FieldProblem("query.cursor", message)])
