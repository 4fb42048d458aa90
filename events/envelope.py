"""The envelope around event data: what a client proposes and what the log stores."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from events.catalogue import EventData

ExpectedVersion = int | Literal["any", "no_stream"]
"""`"any"`, `"no_stream"` (the same as 0), or the stream's exact current version."""

GENESIS_HASH = "0" * 64


class Proposed(msgspec.Struct, frozen=True, kw_only=True):
    """One event a caller wants appended. `data` is raw JSON bytes (validated by the store)
    or an already-built `EventData`. Without `event_id` the store makes one (uuid4): clients
    that retry must send their own. Without `occurred_at` the event happened when it was
    recorded: the store stores its record time as its business time, so the log always holds
    a concrete `occurred_at` (and the hash chain covers it)."""

    type: str
    data: bytes | EventData
    occurred_at: dt.datetime | None = None
    event_id: str | None = None


class Metadata(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who recorded an event and in which conversation. The actor comes from credentials."""

    actor: str
    token_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    user_agent: str | None = None


class Disclosure(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What the hash chain needs of one personal value in an event's data (`events.personal`).

    The chain covers a commitment to the value, sha256(salt || UTF-8 value), not the value.
    While the value is held, `salt` is given and the commitment is recomputed from the value at
    `path`; once it is erased, the salt is gone, `commitment` is given, and the data holds the
    placeholder at `path` instead.
    """

    path: str
    """An RFC 6901 JSON pointer into the event's data (`/parties/0/signatory/name`)."""
    person_id: str | None = None
    """The person the value is about; None for the text of a note."""
    salt: str | None = None
    """Hex; None once the value is erased."""
    commitment: str | None = None
    """Hex; given only once the value is erased (otherwise it follows from salt and value)."""


class RecordedEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An event as stored and as served. `data` and `metadata` are the exact stored bytes;
    `personal` says which values in `data` are personal and carries what recomputing the
    hash needs for each (empty, and left out of the JSON, for an event naming nobody)."""

    position: int
    event_id: str
    stream_id: str
    version: int
    type: str
    schema_version: int
    occurred_at: str
    recorded_at: str
    data: msgspec.Raw
    metadata: msgspec.Raw
    prev_hash: str
    hash: str
    personal: tuple[Disclosure, ...] = ()

    @property
    def category(self) -> str:
        return self.stream_id.split("-", 1)[0]


class AppendResult(msgspec.Struct, frozen=True, kw_only=True):
    stream_id: str
    from_version: int
    to_version: int
    from_position: int
    to_position: int
    created: bool = msgspec.field(default=True)
    """False when the batch was already stored (an idempotent retry)."""


def format_timestamp(moment: dt.datetime) -> str:
    """RFC 3339 UTC with microseconds, fixed width (`2022-12-06T10:00:00.000000Z`), so text
    order is time order. A naive datetime is taken to be UTC."""
    if moment.tzinfo is not dt.UTC and moment.tzinfo is not None and moment.utcoffset():
        moment = moment.astimezone(dt.UTC)
    # Formatted by hand: `isoformat` after two `replace` calls took twice as long, on every
    # event appended.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
    )


def parse_timestamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
