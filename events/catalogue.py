"""The event catalogue: every fact the register can hold, as msgspec Structs.

Event *data* lives here; the envelope (stream, version, position, times, hashes) is in
`events.envelope`. Type names and schema versions are a public contract: never change the
meaning of a recorded type. Evolve it with a new `schema_version` and an upcaster in
`events.upcasting`. New optional fields get defaults; field types never change.

Bodies are decoded strictly (`forbid_unknown_fields`): a typo in a field name is an error the
client hears about, not data silently dropped.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import unicodedata
from typing import Annotated, Any, ClassVar, Literal

import msgspec

# Python's `$` also matches before a final "\n"; `(?!\n)` closes that gap. Every pattern is
# also a valid ECMA-262 regex with the same meaning: the OpenAPI document shows them to clients.
SINGLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$(?!\n)"
"""No control characters (C0, DEL, C1) and no line or paragraph separators."""
MULTI_LINE_PATTERN = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"
"""No control characters but tab and line feed (so no CR: send "\n" line ends)."""
SLUG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$(?!\n)"
URL_PATTERN = r"^https?://[^\s\x00-\x1f\x7f-\x9f]{1,2000}$(?!\n)"
MEDIA_TYPE_PATTERN = (
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$(?!\n)"
)
SHA256_PATTERN = r"^[0-9a-f]{64}$(?!\n)"

PATTERN_MEANINGS: dict[str, str] = {
    SINGLE_LINE_PATTERN: "one line of text without control characters",
    MULTI_LINE_PATTERN: "text without control characters other than tab and line feed",
    SLUG_PATTERN: "a letter or digit, then up to 63 letters, digits, `_`, `.` or `-`",
    URL_PATTERN: "an http(s) URL without spaces or control characters",
    MEDIA_TYPE_PATTERN: "a media type such as application/pdf (type/subtype, no parameters)",
    SHA256_PATTERN: "a SHA-256 digest: 64 lowercase hexadecimal digits",
}
"""Plain words for each pattern, for error messages that would otherwise quote the regex."""

Text = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=200,
        pattern=SINGLE_LINE_PATTERN,
        description="One line, 1 to 200 characters, no control characters.",
    ),
]
LongText = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=4000,
        pattern=MULTI_LINE_PATTERN,
        description="1 to 4000 characters; tab and line feed are the only control characters.",
    ),
]
Slug = Annotated[str, msgspec.Meta(pattern=SLUG_PATTERN)]
Url = Annotated[str, msgspec.Meta(pattern=URL_PATTERN, max_length=2008)]


class _Shape(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    omit_defaults=True,
    gc=False,
):
    """Base of the shared shapes and event data: strict, immutable, canonical when encoded.
    (`gc=False`: event data is a tree decoded from JSON and never holds a reference cycle, so
    the cycle collector need not track it; the writer keeps a stream's events in its decider
    states, and walking them would cost every batch append (benchmarks/peer.py).)"""


class Person(_Shape, frozen=True):
    """A named person. `name_latin` is a romanised form beside a name in another script
    (佐藤花子 / Hanako Sato): shown beside the name, never part of who the person is."""

    name: Text
    title: Text | None = None
    organisation: Text | None = None
    name_latin: Text | None = None
    """The name in the Latin alphabet, beside a name written in another script."""


class Party(_Shape, frozen=True):
    organisation: Text
    country: Text | None = None
    signatory: Person | None = None


class Owner(_Shape, frozen=True):
    """A follow-up owner: an organisational unit, optionally a named person in it."""

    unit: Text
    person: Person | None = None


class EventData(_Shape, frozen=True):
    """Base of every event's data. `type_name` is the stable name stored in the log."""

    type_name: ClassVar[str]
    schema_version: ClassVar[int] = 1


class DelegationFormed(EventData, frozen=True, kw_only=True):
    """A mission abroad. v2: `organiser` is optional (a release often does not say who
    organised a mission); every v1 event names one and reads unchanged."""

    schema_version: ClassVar[int] = 2

    name: Text
    leader: Person
    organiser: Text | None = None
    member_count: Annotated[int, msgspec.Meta(ge=1, le=100_000)]
    starts_on: dt.date
    ends_on: dt.date
    destinations: Annotated[list[Text], msgspec.Meta(min_length=1, max_length=50)]
    country: Text
    programme: LongText | None = None


AgreementKind = Literal["MoC", "MoU", "partnership", "other"]
Renewal = Literal["none", "automatic", "by_decision"]


class AgreementSigned(EventData, frozen=True):
    kind: AgreementKind
    title: Text
    parties: Annotated[list[Party], msgspec.Meta(min_length=2, max_length=20)]
    signed_on: dt.date
    place: Text | None = None
    delegation_id: Text | None = None
    sectors: Annotated[list[Text], msgspec.Meta(max_length=20)] = []
    summary: LongText | None = None
    announced_on: dt.date | None = None
    """When the agreement was made public, if before or apart from the signing."""
    effective_on: dt.date | None = None
    """When the agreement takes effect; the signing day when left out."""
    expires_on: dt.date | None = None
    """The end of its first term; without it the agreement runs until terminated."""
    renewal: Renewal | None = None
    """What happens at `expires_on`: nothing (`none`, the default), a renewal by the same term
    (`automatic`), or only a recorded AgreementRenewed (`by_decision`)."""
    renewal_term_months: Annotated[int, msgspec.Meta(ge=1, le=1200)] | None = None
    """The term an automatic renewal adds to the expiry."""
    notice_days: Annotated[int, msgspec.Meta(ge=0, le=3660)] | None = None
    """Days of notice a party must give before the expiry not to renew (shown, not enforced)."""


class AgreementAnnounced(EventData, frozen=True):
    """An agreement made public before (or without) a recorded signing: the parties announced
    it on `announced_on`. It may start an agreement stream; the agreement is `announced`
    until an AgreementSigned follows (a release that gives no signing date records only this)."""

    kind: AgreementKind
    title: Text
    parties: Annotated[list[Party], msgspec.Meta(min_length=2, max_length=20)]
    announced_on: dt.date
    summary: LongText | None = None
    sectors: Annotated[list[Text], msgspec.Meta(max_length=20)] = []
    delegation_id: Text | None = None


class AgreementRenewed(EventData, frozen=True):
    """A decided renewal: the agreement now expires on `expires_on`."""

    renewed_on: dt.date
    expires_on: dt.date
    reason: LongText | None = None


class AgreementWitnessed(EventData, frozen=True):
    witness: Person
    witnessed_on: dt.date


class AgreementEndorsed(EventData, frozen=True, kw_only=True):
    """An endorsement. v2: `endorser` and `on_behalf_of` are optional (a release may report
    an endorsement without naming who gave it); every v1 event names both and reads
    unchanged."""

    schema_version: ClassVar[int] = 2

    endorser: Person | None = None
    on_behalf_of: Text | None = None
    endorsed_on: dt.date


class ResponsibilityAssigned(EventData, frozen=True):
    owner: Owner
    assigned_by: Text
    assigned_on: dt.date
    scope: LongText | None = None


class ResponsibilityTransferred(EventData, frozen=True):
    """A hand-over. The mandate (`assigned_by`, `scope`) stays with the agreement; the
    outgoing owner's open follow-ups move to `to_owner` unless `move_open_follow_ups` is
    false. v2: that field; a v1 event (recorded when hand-overs moved nothing) reads as
    `false` (`events.upcasting`), so it keeps its meaning."""

    schema_version: ClassVar[int] = 2

    from_owner: Owner
    to_owner: Owner
    transferred_on: dt.date
    reason: LongText | None = None
    move_open_follow_ups: bool = True


class FollowUpOpened(EventData, frozen=True):
    follow_up_id: Slug
    title: Text
    owner: Owner
    due_on: dt.date
    description: LongText | None = None


class FollowUpRescheduled(EventData, frozen=True):
    """An open follow-up is now due on `due_on`."""

    follow_up_id: Slug
    due_on: dt.date
    reason: LongText | None = None


class FollowUpReassigned(EventData, frozen=True):
    """One open follow-up now belongs to `owner` (the agreement's owner stays)."""

    follow_up_id: Slug
    owner: Owner
    reason: LongText | None = None


class FollowUpReopened(EventData, frozen=True):
    """A completed or cancelled follow-up is open again."""

    follow_up_id: Slug
    reopened_on: dt.date
    reason: LongText


class FollowUpCompleted(EventData, frozen=True):
    follow_up_id: Slug
    completed_on: dt.date
    outcome: LongText | None = None


class FollowUpCancelled(EventData, frozen=True):
    follow_up_id: Slug
    cancelled_on: dt.date
    reason: LongText


class AgreementAmended(EventData, frozen=True):
    amended_on: dt.date
    summary: LongText


class AgreementTerminated(EventData, frozen=True):
    terminated_on: dt.date
    reason: LongText


EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=SINGLE_LINE_PATTERN)]


class EventCorrected(EventData, frozen=True):
    """A correction of an earlier event of the same stream. `changes` is a JSON Merge Patch
    (RFC 7396, `events.merge_patch`) of the corrected event's data: views show the corrected
    value from this event's position on, reads cut before it show what was known then, and
    the corrected event's stored bytes never change."""

    corrects: EventId
    """The `event_id` of the corrected event, in this stream."""
    changes: dict[str, Any]
    reason: LongText
    erase_original: bool = False
    """A correction of personal data (GDPR Art. 16): the personal values of the corrected
    event that `changes` replaces are also erased from its stored row (placeholders, as an
    erasure leaves them), in the correction's transaction (`events.rectification`)."""


MAX_DOCUMENT_BYTES = 2**40
"""The largest document a record may describe (1 TiB): far above any signed instrument, low
enough to catch a size given in the wrong unit."""
MediaType = Annotated[
    str,
    msgspec.Meta(
        max_length=255,
        pattern=MEDIA_TYPE_PATTERN,
        description="A media type without parameters (RFC 6838), e.g. application/pdf.",
    ),
]
Sha256 = Annotated[
    str,
    msgspec.Meta(
        pattern=SHA256_PATTERN,
        description="SHA-256 of the file's bytes, 64 lowercase hex digits.",
    ),
]


class DocumentRecorded(EventData, frozen=True):
    """A file that belongs to the agreement (the signed instrument, an annex): what it is,
    and its SHA-256 and size, so an auditor can tell whether a file at hand is the one
    recorded (`agreements verify-document`). The register keeps the fingerprint, not the
    file; `location` says where the file is kept."""

    document_id: Slug
    name: Text
    media_type: MediaType
    sha256: Sha256
    size: Annotated[int, msgspec.Meta(ge=1, le=MAX_DOCUMENT_BYTES)]
    """In bytes."""
    location: Url | None = None
    """Where the file is kept (a link into the agency's document store, not the file)."""


class NoteAttached(EventData, frozen=True):
    text: LongText
    link: Url | None = None


Role = Literal["recorder", "viewer", "auditor", "admin"]


class TokenIssued(EventData, frozen=True):
    """An API token was created (stream `admin-tokens`). Only the token's sha256 is kept."""

    token_id: Slug
    name: Text
    role: Role
    token_hash: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class TokenRevoked(EventData, frozen=True):
    token_id: Slug
    reason: Text | None = None


class CalendarKeyIssued(EventData, frozen=True):
    """A read-only key for one owner's calendar feed was created (stream
    `admin-calendar-keys`): calendar programs cannot send a bearer token. Only the key's
    sha256 is kept, and the key opens that owner's feed only."""

    key_id: Slug
    owner_id: Text
    key_hash: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class CalendarKeyRevoked(EventData, frozen=True):
    key_id: Slug


KeyId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{16}$")]
"""The first 8 bytes of SHA-256 over a raw Ed25519 public key, in hex (`checkpoints.key_id`)."""
PublicKey = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9+/]{43}=$")]
"""A raw 32-byte Ed25519 public key, base64."""


class LogNamed(EventData, frozen=True):
    """The log's id, given once (stream `log-identity`): a signed checkpoint's origin names it,
    so checkpoints of two logs signed with one key are not interchangeable."""

    log_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]


class SigningKeyRegistered(EventData, frozen=True):
    """The first key that signs the log's checkpoints (stream `log-identity`)."""

    key_id: KeyId
    public_key: PublicKey


class SigningKeyRotated(EventData, frozen=True):
    """From now on `key_id` signs the log's checkpoints instead of `previous_key_id`; the
    checkpoints the previous key signed still verify with it."""

    key_id: KeyId
    public_key: PublicKey
    previous_key_id: KeyId
    reason: Text | None = None


StreamName = Annotated[str, msgspec.Meta(pattern=r"^[a-z]{1,32}-[A-Za-z0-9][A-Za-z0-9_-]{0,126}$")]
"""A stream id (`<category>-<id>`), as an event names another stream."""
PersonId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]
"""An opaque person id (`events.personal.person_id`): 32 lowercase hex digits."""


class PersonalDataErased(EventData, frozen=True):
    """Every value of the person `person_id` held until now was erased from the log's rows
    (stream `person-<person_id>`, the actor in the metadata). Holds no personal data: the
    legal basis and the reason are the register's, not the person's."""

    person_id: PersonId
    legal_basis: Text
    reason: LongText
    streams: list[StreamName] = []
    """The streams whose stored rows the erasure rewrote: their read models are folded again
    from the rewritten rows (stream ids hold no personal data)."""


class NoteErased(EventData, frozen=True):
    """The text of the note `event_id` was erased from the log's rows (stream
    `erasure-notes`, the actor in the metadata): a note may name anyone, so it is erased by
    event rather than by person. Holds no personal data."""

    event_id: EventId
    legal_basis: Text
    reason: LongText
    streams: list[StreamName] = []
    """The stream of the note's event, whose read models are folded again (see
    PersonalDataErased)."""


REWRITING_TYPES = frozenset({"PersonalDataErased", "NoteErased", "EventCorrected"})
"""Event types whose append may rewrite earlier events' stored rows: a query's first sieve.
Whether one did is `rewrites` (a correction rewrites only when asked to erase the original)."""

_ERASING_TYPES = frozenset({"PersonalDataErased", "NoteErased"})


class _AsksToErase(msgspec.Struct):
    """The one field of a correction `rewrites` reads (others are ignored)."""

    erase_original: bool = False


_ASKS_TO_ERASE = msgspec.json.Decoder(_AsksToErase)


def rewrites(type_name: str, data: bytes) -> bool:
    """Whether the stored event (`type_name`, its `data` as stored) rewrote earlier events'
    stored rows when it was appended: an erasure always, a correction only with
    `erase_original` (`events.rectification`). Whatever holds decoded or encoded copies of
    earlier rows (decider states, replays, cached answers, encoded tails) must read them
    again after one; an ordinary correction is an ordinary event, and throwing every cache
    away (and vacuuming the files) at each one cost every reader for nothing."""
    if type_name in _ERASING_TYPES:
        return True
    if type_name != "EventCorrected" or b"erase_original" not in data:
        return False
    try:
        return _ASKS_TO_ERASE.decode(data).erase_original
    except msgspec.DecodeError:
        return False


EVENT_TYPES: dict[str, type[EventData]] = {
    cls.__name__: cls
    for cls in (
        DelegationFormed,
        AgreementAnnounced,
        AgreementSigned,
        AgreementRenewed,
        AgreementWitnessed,
        AgreementEndorsed,
        ResponsibilityAssigned,
        ResponsibilityTransferred,
        FollowUpOpened,
        FollowUpCompleted,
        FollowUpCancelled,
        FollowUpRescheduled,
        FollowUpReassigned,
        FollowUpReopened,
        AgreementAmended,
        AgreementTerminated,
        NoteAttached,
        DocumentRecorded,
        EventCorrected,
        TokenIssued,
        TokenRevoked,
        CalendarKeyIssued,
        CalendarKeyRevoked,
        LogNamed,
        SigningKeyRegistered,
        SigningKeyRotated,
        PersonalDataErased,
        NoteErased,
    )
}

for _name, _cls in EVENT_TYPES.items():
    _cls.type_name = _name

_DECODERS: dict[str, msgspec.json.Decoder[EventData]] = {
    name: msgspec.json.Decoder(cls) for name, cls in EVENT_TYPES.items()
}
_ENCODER = msgspec.json.Encoder()


def decoder_for(type_name: str) -> msgspec.json.Decoder[EventData] | None:
    """The strict JSON decoder for one event type, or None if the type is unknown."""
    return _DECODERS.get(type_name)


def encode_data(data: EventData) -> bytes:
    """Canonical JSON bytes of event data: declared field order, defaults omitted."""
    return _ENCODER.encode(data)


def owner_id(owner: Owner, secret: bytes) -> str:
    """Stable, opaque identifier of an owner: id of the unit, plus the person's id when named
    (`unit-slug--<person_id>`, the person id keyed by the log's `secret`).

    Two owners with the same unit and person name are the same owner, whatever titles (or
    `name_latin`) say; distinct names in any script are distinct owners, and the same person
    in two units two owners. The id holds no part of the name, and an erasure, which leaves
    `[erased <person_id>]` where the name was, leaves it as it was: links, calendar
    subscriptions and calendar keys (whose events hold the id) keep working, and nothing in
    a URL or a table names the person. Derived, never stored in an event's personal data:
    projections compute it, so a change here is a projection version bump, not a new event
    schema.
    """
    key = name_id(owner.unit)
    if owner.person is not None:
        from events.personal import person_key  # it builds on this module's types

        key += "--" + person_key(secret, owner.person.name)
    return key


@functools.lru_cache(maxsize=4096)
def name_id(text: str) -> str:
    """A URL-safe id for a name in any script, readable where the name is Latin: a unit's
    part of an owner id (a person's part is their opaque person id, `owner_id`).

    An ASCII name gets its slug ("Els Verhulst" → `els-verhulst`, as ids always were). Any
    other name loses letters in a slug (accents, or all of 佐藤花子 and 鈴木一郎, which both
    slugged to `x` and merged two owners), so it gets the slug of what is Latin in it plus a
    short hash of its exact NFC text: `muller-3f2a9c01`, `5d41402a`. Distinct names then get
    distinct ids; the same name typed on two keyboards (NFC) gets one. Only ASCII case and
    punctuation still fold together ("Ministry of Finance" and "MINISTRY of finance").
    """
    nfc = unicodedata.normalize("NFC", text)
    ascii_text = unicodedata.normalize("NFKD", nfc).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if slug and nfc.isascii():
        return slug
    digest = hashlib.sha256(nfc.encode()).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else digest
