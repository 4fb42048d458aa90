"""The read models: partnerships, follow-up owners, delegations.

Every read takes `wait_for_position` (read-your-writes: pass the `to_position` an append
returned). The wait is bounded by the server's `max_wait_seconds` (and skipped for a position
past the log's head, which no append has returned yet); if the projections have not reached
the position by then, the read is answered anyway, never failed (no 504): the `position`
member of the body says which log position the answer reflects, so a client can tell and
retry. Overdue follow-ups are judged against the server's today (UTC).

The past, bitemporally (the three combine):
- `as_of_position=P`: the state right after log position P;
- `as_of_recorded_at=T`: what the system knew at record time T (RFC 3339);
- `in_force_on=D`: what had happened by business date D (`occurred_at`), as far as the log
  knows now (or knew at P or T) — a fact recorded late shows up here for its own date.

Every 200 carries an `ETag` naming the position it reflects (with the read models' schema
versions, and for owners the day overdue was judged on): a poll with `If-None-Match` gets
`304 Not Modified`, without a body, while nothing it shows can have changed.

Lists are paged by id (`limit`, `cursor`; see `service.routes.paging`) and show summaries;
a walk over partnerships or delegations answers every page as of the position its first
page reflected (`projections.pages`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from events.catalogue import Person
from projections import follow_ups, partnership_search, partnerships, term
from projections.as_of import Cut
from projections.delegation_view import Delegation
from projections.facade import Projections
from projections.pages import Keyset, Page
from projections.partnership_view import Partnership
from projections.reader import stream_id
from projections.schema import SCHEMA_VERSIONS
from projections.summaries import (
    DelegationSummary,
    OwnerDocument,
    OwnerListItem,
    PartnershipSummary,
)
from service import spreadsheets
from service.problems import InvalidInput, NotFound
from service.responses import FieldProblem
from service.routes import paging
from service.routes.base import POSITION_MAX, Call, Services
from service.routes.paging import DEFAULT_LIMIT, CursorToken, Limit

Position = Annotated[int, msgspec.Meta(ge=0, le=POSITION_MAX)]
RECORD_TIME_PATTERN = (
    r"^(19[0-9]{2}|2[01][0-9]{2}|2200)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
"""An RFC 3339 date-time with a zone, in the years the log can hold (1900 to 2200, as for
business time): a number is not a time, and a year such as 0001 at +14:00 has no UTC."""
Instant = Annotated[
    str,
    msgspec.Meta(
        pattern=RECORD_TIME_PATTERN,
        extra_json_schema={"format": "date-time"},
        description="RFC 3339 date-time with a zone, years 1900 to 2200",
    ),
]
Filter = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]

_SCHEMAS = ".".join(str(version) for version in SCHEMA_VERSIONS.values())
_CACHING = "no-store"
"""Answers are for the token that asked: nothing may store them. A client that polls keeps the
ETag itself and asks with If-None-Match (304 while nothing changed)."""


class ReadParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    as_of_position: Position | None = None
    """Answer with the state right after this log position (history)."""
    as_of_recorded_at: Instant | None = None
    """Answer with what the system knew at this record time (RFC 3339, with a zone)."""
    in_force_on: dt.date | None = None
    """Answer with what had happened by this business date (events' `occurred_at`)."""
    wait_for_position: Position | None = None
    """Wait (bounded) until the projections have applied this position before answering."""

    @property
    def cut(self) -> Cut | None:
        """The past asked for, or None for the current state."""
        given = (self.as_of_position, self.as_of_recorded_at, self.in_force_on)
        if all(value is None for value in given):
            return None
        return Cut(
            position=self.as_of_position,
            recorded_at=_record_time(self.as_of_recorded_at),
            in_force_on=self.in_force_on,
        )


def _record_time(text: str | None) -> dt.datetime | None:
    """`as_of_recorded_at` as a time; the pattern has checked its shape, not the calendar."""
    if text is None:
        return None
    try:
        moment = msgspec.convert(text, dt.datetime)
    except msgspec.ValidationError:
        problem = FieldProblem("query.as_of_recorded_at", "not a valid RFC 3339 date-time")
        raise InvalidInput([problem]) from None
    return moment


class ListParams(ReadParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    limit: Limit = DEFAULT_LIMIT
    """Most items on this page (1 to 1,000)."""
    cursor: CursorToken | None = None
    """Where this page starts: from the `next` link of the page before (opaque)."""


Format = Literal["json", "csv"]


class ExportableParams(ListParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    format: Format | None = None
    """`csv`: the whole filtered list as CSV (no paging; also asked by `Accept: text/csv`)."""


class PartnershipFilters(ExportableParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    status: Literal["announced", "active", "expired", "terminated"] | None = None
    """The status on the agency's today (`expired`: past an expiry nothing renewed)."""
    expiring_within_days: Annotated[int, msgspec.Meta(ge=0, le=3660)] | None = None
    """Agreements that lapse within this many days unless renewed (automatic renewals never
    lapse; `0`: today is their last day)."""
    owner: Filter | None = None
    """An owner id (see /owners)."""
    sector: Filter | None = None
    party: Filter | None = None
    """A party's organisation (whole, ignoring case)."""
    country: Filter | None = None
    """A party's country (whole, ignoring case)."""
    person: Filter | None = None
    """A person's name as recorded (signatory, witness, endorser, owner; ignoring case)."""
    delegation: Filter | None = None
    """The id of the delegation it was signed during."""
    kind: Filter | None = None
    signed_from: dt.date | None = None
    """Signed on or after this date."""
    signed_to: dt.date | None = None
    """Signed on or before this date."""
    q: Filter | None = None
    """Words (any script) each found in the title, parties' or people's names, ignoring case."""

    @property
    def search(self) -> partnership_search.Search | None:
        given = (self.party, self.country, self.person, self.delegation, self.kind)
        dates = (self.signed_from, self.signed_to, self.q)
        if all(value is None for value in (*given, *dates)):
            return None
        return partnership_search.Search(
            party=self.party,
            country=self.country,
            person=self.person,
            delegation=self.delegation,
            kind=self.kind,
            signed_from=self.signed_from,
            signed_to=self.signed_to,
            q=self.q,
        )


class FollowUpFilters(ExportableParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    state: Literal["open", "completed", "cancelled"] | None = None
    owner: Filter | None = None
    """An owner id (see /owners)."""
    agreement: Filter | None = None
    """An agreement id, with or without its `agreement-` prefix."""
    overdue: bool | None = None
    """true: open and due before today; false: every other follow-up."""
    due_within_days: Annotated[int, msgspec.Meta(ge=0, le=3660)] | None = None
    """Open and due from today to today + N days (0 to 3,660)."""

    def filters(self, today: dt.date) -> follow_ups.Filters:
        return follow_ups.Filters(
            today=today,
            state=self.state,
            owner=self.owner,
            agreement=None if self.agreement is None else stream_id("agreement", self.agreement),
            overdue=self.overdue,
            due_within_days=self.due_within_days,
        )


class OwnerListParams(ExportableParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class PartnershipParams(ReadParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    agreement_id: Annotated[Id, msgspec.Meta(examples=["agreement-imec-rapidus-2022"])]


class OwnerParams(ReadParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    owner_id: Annotated[
        Id, msgspec.Meta(examples=["fit-tokyo-office--3b9e0f6c2a71d48e5c06f1a9d27b84e3"])
    ]


class DelegationParams(ReadParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    delegation_id: Annotated[Id, msgspec.Meta(examples=["delegation-bem-japan-2022"])]


class PartnershipList(msgspec.Struct, frozen=True, kw_only=True):
    partnerships: Sequence[PartnershipSummary]
    position: int
    next: str | None
    """The URL of the next page (also in the `Link` header), null on the last page."""


class FollowUpList(msgspec.Struct, frozen=True, kw_only=True):
    follow_ups: Sequence[follow_ups.ListedFollowUp]
    position: int
    next: str | None
    """The URL of the next page (also in the `Link` header), null on the last page."""


class PartnershipRead(msgspec.Struct, frozen=True, kw_only=True):
    partnership: Partnership
    position: int


class OwnerList(msgspec.Struct, frozen=True, kw_only=True):
    owners: Sequence[OwnerListItem]
    position: int
    next: str | None
    """The URL of the next page (also in the `Link` header), null on the last page."""


class OwnerRead(msgspec.Struct, frozen=True, kw_only=True):
    owner: OwnerDocument
    position: int


class DelegationList(msgspec.Struct, frozen=True, kw_only=True):
    delegations: Sequence[DelegationSummary]
    position: int
    next: str | None
    """The URL of the next page (also in the `Link` header), null on the last page."""


class DelegationAgreement(msgspec.Struct, frozen=True, kw_only=True):
    """An agreement recorded under a delegation (its `delegation_id`), as the delegation's
    document lists it."""

    agreement_id: str
    kind: str
    title: str
    parties: list[str]
    signed_on: dt.date | None
    """None while the agreement is only announced (`announced_on`)."""
    announced_on: dt.date | None = None
    status: str


class DelegationDocument(Delegation, kw_only=True):
    agreements: list[DelegationAgreement] = []
    """The agreements signed under it, by id (as of the same cut as the delegation)."""


class DelegationRead(msgspec.Struct, frozen=True, kw_only=True):
    delegation: DelegationDocument
    position: int


async def _ready(services: Services, params: ReadParams) -> Projections:
    """The facade, once it has caught up with `wait_for_position` (or the wait ran out)."""
    projections = services.projections
    if projections is None:
        raise NotFound("projections are not running in this process")
    wanted = params.wait_for_position
    if wanted is None or params.cut is not None or projections.position >= wanted:
        return projections
    # A position past the head was never handed out by an append: waiting cannot help.
    if wanted <= await services.store.head():
        await projections.wait_for(wanted, services.settings.max_wait_seconds)
    return projections


def etag(position: int, *variant: object) -> str:
    """The entity tag of an answer at `position`. For one URL the answer is a function of
    the position it reflects (plus `variant`, e.g. the day overdue is judged on) and of the
    read models' schema versions, so equal tags mean equal bodies."""
    if not variant:
        return f'"{_SCHEMAS}-{position}"'
    return '"' + "-".join([_SCHEMAS, str(position), *map(str, variant)]) + '"'


def not_modified(request: Request, tag: str) -> bool:
    """If-None-Match names `tag` (weak comparison, as RFC 9110 asks) or is `*`."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(candidate.strip().removeprefix("W/") == tag for candidate in header.split(","))


class _Tagged(Response):
    """A JSON answer (or its 304) with its entity tag. The headers are built directly:
    this is the path every dashboard poll takes."""

    media_type = "application/json"

    def __init__(
        self, body: bytes, tag: str, *, modified: bool = True, link: str | None = None
    ) -> None:
        self.status_code = 200 if modified else 304
        self.background = None
        self.body = body if modified else b""
        headers = [(b"etag", tag.encode("latin-1")), _CACHE_CONTROL]
        if link is not None:
            headers.append((b"link", f'<{link}>; rel="next"'.encode("latin-1")))
        if modified:
            headers += [(b"content-length", str(len(body)).encode()), _CONTENT_TYPE]
        self.raw_headers = headers


_CACHE_CONTROL = (b"cache-control", _CACHING.encode())
_CONTENT_TYPE = (b"content-type", b"application/json")
_encode = msgspec.json.Encoder().encode


def _answer(request: Request, tag: str, body: bytes | object, link: str | None = None) -> Response:
    if not_modified(request, tag):
        return _Tagged(b"", tag, modified=False, link=link)
    return _Tagged(body if isinstance(body, bytes) else _encode(body), tag, link=link)


async def _keyset(projections: Projections, name: str, p: ListParams) -> tuple[Keyset, str]:
    """Where the page starts, and the binding its `next` cursor carries. A first page over
    the current state leaves the position open (the read fixes it); a first page of the past
    fixes the position its cut resolves to; a later page takes the cursor's."""
    bound = paging.binding(name, p)
    cursor = paging.cursor_of(p, bound)
    if cursor is not None:
        return Keyset(cursor.position, cursor.last, p.limit, p.in_force_on), bound
    cut = p.cut
    if cut is None:
        return Keyset(None, None, p.limit), bound
    resolved = await projections.resolve(cut)
    return Keyset(resolved.position, None, p.limit, cut.in_force_on), bound


def _next(request: Request, bound: str, page: Page[Any], last: str | None) -> str | None:
    if not page.more or last is None:
        return None
    return paging.next_link(request, bound, page.position, last)


def _raw_one(
    request: Request, key: str, doc: bytes | None, position: int, missing: str
) -> Response:
    if doc is None:
        raise NotFound(missing)
    tag = etag(position)
    if not_modified(request, tag):
        return _Tagged(b"", tag, modified=False)
    return _Tagged(
        b"".join([b'{"', key.encode(), b'":', doc, f',"position":{position}}}'.encode()]), tag
    )


CSV_PAGE = 500
"""Items read per statement while a CSV export streams."""

Item = TypeVar("Item")


async def _all_pages(
    first: Keyset,
    read: Callable[[Keyset], Awaitable[Page[Item]]],
    last_of: Callable[[Item], str],
) -> AsyncIterator[list[Item]]:
    """Every page of a list from `first` on (a CSV export is the whole list, not a page),
    each as of the first page's position (as its cursors would be)."""
    keyset = Keyset(first.at, first.after, CSV_PAGE, first.in_force_on)
    while True:
        page = await read(keyset)
        yield page.items
        if not page.more or not page.items:
            return
        keyset = Keyset(page.position, last_of(page.items[-1]), CSV_PAGE, first.in_force_on)


def _delegation_agreement(item: PartnershipSummary) -> DelegationAgreement:
    return DelegationAgreement(
        agreement_id=item.agreement_id,
        kind=item.kind,
        title=item.title,
        parties=item.parties,
        signed_on=item.signed_on,
        announced_on=item.announced_on,
        status=item.status,
    )


def _follow_up_key(item: follow_ups.ListedFollowUp) -> str:
    return follow_ups.encode_key(follow_ups.key_of(item))


def _name(person: Person | None) -> str | None:
    return None if person is None else person.name


def _date(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


PARTNERSHIP_COLUMNS: spreadsheets.Columns[PartnershipSummary] = spreadsheets.Columns(
    ("agreement_id", lambda p: p.agreement_id),
    ("kind", lambda p: p.kind),
    ("title", lambda p: p.title),
    ("parties", lambda p: "; ".join(p.parties)),
    ("status", lambda p: p.status),
    ("signed_on", lambda p: _date(p.signed_on)),
    ("owner_id", lambda p: None if p.owner is None else p.owner.owner_id),
    ("owner_unit", lambda p: None if p.owner is None else p.owner.unit),
    ("owner_person", lambda p: None if p.owner is None else _name(p.owner.person)),
    ("delegation_id", lambda p: p.delegation_id),
    ("open_follow_ups", lambda p: p.follow_ups.open),
    ("completed_follow_ups", lambda p: p.follow_ups.completed),
    ("cancelled_follow_ups", lambda p: p.follow_ups.cancelled),
    ("next_due_on", lambda p: _date(p.next_due_on)),
    ("note_count", lambda p: p.note_count),
    ("position", lambda p: p.position),
)
FOLLOW_UP_COLUMNS: spreadsheets.Columns[follow_ups.ListedFollowUp] = spreadsheets.Columns(
    ("follow_up_id", lambda f: f.follow_up_id),
    ("title", lambda f: f.title),
    ("agreement_id", lambda f: f.agreement_id),
    ("agreement_title", lambda f: f.agreement_title),
    ("owner_id", lambda f: f.owner.owner_id),
    ("owner_unit", lambda f: f.owner.unit),
    ("owner_person", lambda f: _name(f.owner.person)),
    ("due_on", lambda f: f.due_on.isoformat()),
    ("state", lambda f: f.state),
    ("overdue", lambda f: f.overdue),
    ("closed_on", lambda f: _date(f.closed_on)),
    ("outcome", lambda f: f.outcome),
    ("reason", lambda f: f.reason),
)
OWNER_COLUMNS: spreadsheets.Columns[OwnerListItem] = spreadsheets.Columns(
    ("owner_id", lambda o: o.owner_id),
    ("unit", lambda o: o.unit),
    ("person", lambda o: _name(o.person)),
    ("agreements", lambda o: o.agreement_count),
    ("open", lambda o: o.counts.open),
    ("overdue", lambda o: o.counts.overdue),
    ("completed", lambda o: o.counts.completed),
    ("cancelled", lambda o: o.counts.cancelled),
    ("next_due_on", lambda o: _date(o.next_due_on)),
    ("today", lambda o: o.today.isoformat()),
)


async def list_partnerships(call: Call[PartnershipFilters, None]) -> Response:
    p = call.params
    today = call.services.settings.current_date()
    projections = await _ready(call.services, p)
    keyset, bound = await _keyset(projections, "partnerships", p)

    async def read(keyset: Keyset) -> Page[PartnershipSummary]:
        return await projections.partnership_page(
            keyset,
            status=p.status,
            owner=p.owner,
            sector=p.sector,
            expiring_within_days=p.expiring_within_days,
            today=today,
            search=p.search,
        )

    if spreadsheets.wants_csv(call.request, p.format):
        pages = _all_pages(keyset, read, lambda item: item.agreement_id)
        return spreadsheets.response(PARTNERSHIP_COLUMNS, pages, "partnerships.csv")
    page = await read(keyset)
    last = page.items[-1].agreement_id if page.items else None
    link = _next(call.request, bound, page, last)
    body = PartnershipList(partnerships=page.items, position=page.position, next=link)
    return _answer(call.request, etag(page.position, today), body, link)


async def get_partnership(call: Call[PartnershipParams, None]) -> Response:
    p = call.params
    doc, position = await (await _ready(call.services, p)).get_partnership_json(
        p.agreement_id, cut=p.cut
    )
    missing = f"no partnership {p.agreement_id!r}"
    if doc is None or not term.may_change_with_the_day(doc):
        return _raw_one(call.request, "partnership", doc, position, missing)
    # Its status and next expiry depend on the day: judged now, and the tag says on which.
    today = call.services.settings.current_date()
    shown = term.as_of_day(partnerships.decode(doc), today)
    tag = etag(position, today)
    body = PartnershipRead(partnership=shown, position=position)
    return _answer(call.request, tag, body)


async def list_owners(call: Call[OwnerListParams, None]) -> Response:
    p = call.params
    today = call.services.settings.current_date()
    projections = await _ready(call.services, p)
    keyset, bound = await _keyset(projections, "owners", p)

    async def read(keyset: Keyset) -> Page[OwnerListItem]:
        return await projections.owner_page(keyset, today=today)

    if spreadsheets.wants_csv(call.request, p.format):
        pages = _all_pages(keyset, read, lambda item: item.owner_id)
        return spreadsheets.response(OWNER_COLUMNS, pages, "owners.csv")
    page = await read(keyset)
    last = page.items[-1].owner_id if page.items else None
    link = _next(call.request, bound, page, last)
    body = OwnerList(owners=page.items, position=page.position, next=link)
    return _answer(call.request, etag(page.position, today), body, link)


async def list_follow_ups(call: Call[FollowUpFilters, None]) -> Response:
    p = call.params
    today = call.services.settings.current_date()
    projections = await _ready(call.services, p)
    keyset, bound = await _keyset(projections, "follow-ups", p)
    filters = p.filters(today)

    async def read(keyset: Keyset) -> Page[follow_ups.ListedFollowUp]:
        return await projections.follow_up_page(keyset, filters)

    if spreadsheets.wants_csv(call.request, p.format):
        pages = _all_pages(keyset, read, _follow_up_key)
        return spreadsheets.response(FOLLOW_UP_COLUMNS, pages, "follow-ups.csv")
    page = await read(keyset)
    last = follow_ups.encode_key(follow_ups.key_of(page.items[-1])) if page.items else None
    link = _next(call.request, bound, page, last)
    body = FollowUpList(follow_ups=page.items, position=page.position, next=link)
    return _answer(call.request, etag(page.position, today), body, link)


async def get_owner(call: Call[OwnerParams, None]) -> Response:
    p = call.params
    today = call.services.settings.current_date()
    shown = call.services.settings.owner_follow_ups_shown
    found, position = await (await _ready(call.services, p)).owner_document(
        p.owner_id, today=today, shown=shown, cut=p.cut
    )
    if found is None:
        raise NotFound(f"no follow-up owner {p.owner_id!r}")
    body = OwnerRead(owner=found, position=position)
    return _answer(call.request, etag(position, today, shown), body)


async def list_delegations(call: Call[ListParams, None]) -> Response:
    p = call.params
    projections = await _ready(call.services, p)
    keyset, bound = await _keyset(projections, "delegations", p)
    page = await projections.delegation_page(keyset)
    last = page.items[-1].delegation_id if page.items else None
    link = _next(call.request, bound, page, last)
    body = DelegationList(delegations=page.items, position=page.position, next=link)
    return _answer(call.request, etag(page.position), body, link)


async def get_delegation(call: Call[DelegationParams, None]) -> Response:
    """The delegation's stored document, with the agreements recorded under it spliced in:
    read from the partnerships read model by its delegation facet (`partnership_search`),
    not folded into the delegation, whose stream never hears of them. As of a past cut the
    list comes from the replayed picture at that cut (`ProjectionReader.partnership_page`),
    which costs a replay of the log up to the cut the first time a cut is asked for."""
    p = call.params
    projections = await _ready(call.services, p)
    doc, position = await projections.get_delegation_json(p.delegation_id, cut=p.cut)
    if doc is None:
        raise NotFound(f"no delegation {p.delegation_id!r}")
    today = call.services.settings.current_date()
    search = partnership_search.Search(delegation=stream_id("delegation", p.delegation_id))
    cut = p.cut
    if cut is None:
        first = Keyset(None, None, CSV_PAGE)
    else:
        resolved = await projections.resolve(cut)
        first = Keyset(resolved.position, None, CSV_PAGE, cut.in_force_on)

    positions: list[int] = []

    async def read(keyset: Keyset) -> Page[PartnershipSummary]:
        page = await projections.partnership_page(keyset, today=today, search=search)
        positions.append(page.position)
        return page

    agreements: list[DelegationAgreement] = []
    async for items in _all_pages(first, read, lambda item: item.agreement_id):
        agreements += [_delegation_agreement(item) for item in items]
    tag = etag(position, max(positions), today)
    if not_modified(call.request, tag):
        return _Tagged(b"", tag, modified=False)
    body = b"".join(
        [
            b'{"delegation":',
            doc[:-1],  # the stored document is a JSON object: add one member before its "}"
            b',"agreements":',
            msgspec.json.encode(agreements),
            f'}},"position":{position}}}'.encode(),
        ]
    )
    return _Tagged(body, tag)
