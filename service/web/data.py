"""What the pages read, in one place: the glue between the pages and the read side.

Pages call these functions, never the JSON routes, so a change in the shapes the API serves
(paging, summaries) is adapted here once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import msgspec

from events.envelope import RecordedEvent
from events.personal import log_secret
from projections import follow_ups, partnership_search
from projections.as_of import Cut
from projections.delegation_view import Delegation
from projections.facade import Projections
from projections.owner_view import OwnerSummary
from projections.pages import Keyset, Page
from projections.partnership_view import FollowUp, Partnership
from projections.reader import stream_id
from projections.summaries import PartnershipSummary
from service.problems import NotFound
from service.routes.base import Services
from service.routes.people import latest_erasure
from service.web import corrections

RECENT_EVENTS = 15
HISTORY_SHOWN = 200
"""Events a partnership's timeline shows (the latest); the API's history pages hold all."""
SERVICE_CATEGORIES = ("admin", "log")


def _projections(services: Services) -> Projections:
    if services.projections is None:
        raise NotFound("projections are not running in this process")
    return services.projections


async def caught_up(services: Services, position: int | None) -> None:
    """Wait (bounded) until the read side has applied `position`: read-your-writes."""
    projections = _projections(services)
    if (
        position is not None
        and projections.position < position
        and position <= await services.store.head()
    ):
        await projections.wait_for(position, services.settings.max_wait_seconds)


async def partnerships(
    services: Services,
    *,
    status: str | None = None,
    owner: str | None = None,
    sector: str | None = None,
    expiring_within_days: int | None = None,
) -> list[Partnership]:
    found, _ = await _projections(services).list_partnerships(
        status=status,
        owner=owner,
        sector=sector,
        expiring_within_days=expiring_within_days,
        today=services.settings.current_date(),
    )
    return found


PARTNERSHIPS_SHOWN = 50
"""Agreements on one page of the partnerships list."""


async def partnership_page(
    services: Services,
    *,
    status: str | None,
    owner: str | None,
    sector: str | None,
    expiring_within_days: int | None,
    search: partnership_search.Search | None,
    after: str | None,
) -> Page[PartnershipSummary]:
    """A page of the partnership list (`GET /partnerships`'s read model and search), by
    agreement id after `after`, statuses as on the agency's today."""
    return await _projections(services).partnership_page(
        Keyset(at=None, after=after, limit=PARTNERSHIPS_SHOWN),
        status=status,
        owner=owner,
        sector=sector,
        expiring_within_days=expiring_within_days,
        today=services.settings.current_date(),
        search=search,
    )


async def partnership(services: Services, agreement_id: str) -> Partnership | None:
    found, _ = await _projections(services).get_partnership(agreement_id)
    return found


async def partnership_as_of(
    services: Services,
    agreement_id: str,
    *,
    known_on: dt.date | None = None,
    in_force_on: dt.date | None = None,
) -> tuple[Partnership | None, int]:
    """One partnership as the register knew it at the end of `known_on` (record time), or
    as in force on `in_force_on` (business time, as known now); and the position it reflects."""
    recorded_at = None
    if known_on is not None:
        recorded_at = dt.datetime.combine(known_on, dt.time.max, tzinfo=dt.UTC)
    cut = Cut(recorded_at=recorded_at, in_force_on=in_force_on)
    return await _projections(services).get_partnership(agreement_id, cut=cut)


async def owners(services: Services) -> list[OwnerSummary]:
    found, _ = await _projections(services).list_owners(today=services.settings.current_date())
    return found


async def owner(services: Services, owner_id: str) -> OwnerSummary | None:
    found, _ = await _projections(services).get_owner(
        owner_id, today=services.settings.current_date()
    )
    return found


FOLLOW_UPS_SHOWN = 50
"""Follow-ups on one page of "My follow-ups" (the next page follows the last one shown)."""


async def follow_up_page(
    services: Services, filters: follow_ups.Filters, after: str | None
) -> Page[follow_ups.ListedFollowUp]:
    """A page of the follow-ups work list (`GET /follow-ups`'s read model) after the key
    `after` (as `follow_ups.encode_key` wrote it)."""
    keyset = Keyset(at=None, after=after, limit=FOLLOW_UPS_SHOWN)
    return await _projections(services).follow_up_page(keyset, filters)


def next_key(page: Page[follow_ups.ListedFollowUp]) -> str | None:
    if not page.more or not page.items:
        return None
    return follow_ups.encode_key(follow_ups.key_of(page.items[-1]))


async def delegations(services: Services) -> list[Delegation]:
    found, _ = await _projections(services).list_delegations()
    return found


async def history(services: Services, agreement_id: str) -> tuple[list[RecordedEvent], int]:
    """The latest `HISTORY_SHOWN` events of one agreement's stream, oldest first, and the
    stream's version (the page says how many earlier events it leaves out)."""
    key = stream_id("agreement", agreement_id)
    version = await services.store.stream_version(key)
    events = await services.store.read_stream(
        key, after_version=max(0, version - HISTORY_SHOWN), limit=HISTORY_SHOWN
    )
    return events, max(version, events[-1].version if events else 0)


async def stream(services: Services, key: str) -> list[RecordedEvent]:
    """Every event of stream `key`, oldest first (an agreement's stream is bounded by its
    document limits, so it is read whole)."""
    found: list[RecordedEvent] = []
    while batch := await services.store.read_stream(
        key, after_version=found[-1].version if found else 0, limit=1000
    ):
        found.extend(batch)
    return found


async def since(services: Services, key: str, version: int) -> list[RecordedEvent]:
    """The events of stream `key` after `version` (what changed since a form was rendered)."""
    return await services.store.read_stream(key, after_version=version, limit=100)


async def recent_events(services: Services) -> list[RecordedEvent]:
    """The latest events of the register (not the service's own streams), newest first."""
    head = await services.store.head()
    events = await services.store.read_all(after=max(0, head - 4 * RECENT_EVENTS), limit=1000)
    mine = [e for e in events if e.category not in SERVICE_CATEGORIES]
    return list(reversed(mine))[:RECENT_EVENTS]


# -- what pages show -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenFollowUp:
    partnership: Partnership
    follow_up: FollowUp


@dataclass(frozen=True, slots=True)
class Overview:
    today: dt.date
    open: list[OpenFollowUp]
    overdue: list[OpenFollowUp]
    due_within: dict[int, int]
    """Days ahead (7, 30, 90) -> open follow-ups due from today until then."""
    per_month: list[tuple[str, int]]
    """Open follow-ups by the month they are due, in month order."""
    partnerships: int
    recently_changed: list[Partnership]


def overview(found: list[Partnership], today: dt.date) -> Overview:
    open_ = sorted(
        (OpenFollowUp(p, f) for p in found for f in p.follow_ups if f.state == "open"),
        key=lambda o: (o.follow_up.due_on, o.partnership.agreement_id),
    )
    overdue = [o for o in open_ if o.follow_up.due_on < today]
    due_within = {
        days: sum(1 for o in open_ if today <= o.follow_up.due_on < today + dt.timedelta(days))
        for days in (7, 30, 90)
    }
    months = Counter(o.follow_up.due_on.strftime("%Y-%m") for o in open_)
    recent = sorted(found, key=lambda p: p.position, reverse=True)[:8]
    return Overview(
        today=today,
        open=open_,
        overdue=overdue,
        due_within=due_within,
        per_month=sorted(months.items()),
        partnerships=len(found),
        recently_changed=recent,
    )


def describe(event: RecordedEvent) -> str:
    """One line saying what an event recorded, in plain words."""
    data: Any = msgspec.json.decode(event.data)
    if not isinstance(data, dict):
        return event.type

    def person(value: Any) -> str:
        if not isinstance(value, dict):
            return ""
        name = str(value.get("name", ""))
        return f"{name} ({value['title']})" if value.get("title") else name

    def owner(value: Any) -> str:
        if not isinstance(value, dict):
            return ""
        who = person(value.get("person"))
        return f"{value.get('unit', '')}, {who}" if who else str(value.get("unit", ""))

    match event.type:
        case "AgreementSigned" | "AgreementAnnounced":
            return f"{data.get('kind', '')} “{data.get('title', '')}”"
        case "AgreementWitnessed":
            return f"witnessed by {person(data.get('witness'))}"
        case "AgreementEndorsed":
            who, body = person(data.get("endorser")), data.get("on_behalf_of")
            return (
                "endorsed"
                + (f" by {who}" if who else "")
                + (f" on behalf of {body}" if body else "")
            )
        case "ResponsibilityAssigned":
            return f"responsibility assigned to {owner(data.get('owner'))}"
        case "ResponsibilityTransferred":
            return (
                f"responsibility handed over from {owner(data.get('from_owner'))}"
                f" to {owner(data.get('to_owner'))}"
            )
        case "FollowUpOpened":
            return (
                f"follow-up “{data.get('title', '')}” for {owner(data.get('owner'))},"
                f" due {data.get('due_on', '')}"
            )
        case "FollowUpCompleted":
            return f"follow-up {data.get('follow_up_id', '')} completed"
        case "FollowUpCancelled":
            return f"follow-up {data.get('follow_up_id', '')} cancelled: {data.get('reason', '')}"
        case "FollowUpRescheduled":
            return (
                f"follow-up {data.get('follow_up_id', '')} now due {data.get('due_on', '')}"
                + _because(data)
            )
        case "FollowUpReassigned":
            return (
                f"follow-up {data.get('follow_up_id', '')} reassigned to"
                f" {owner(data.get('owner'))}" + _because(data)
            )
        case "FollowUpReopened":
            return f"follow-up {data.get('follow_up_id', '')} reopened" + _because(data)
        case "NoteAttached":
            return f"note: {str(data.get('text', ''))[:160]}"
        case "AgreementAmended":
            return f"amended: {data.get('summary', '')}"
        case "AgreementTerminated":
            return f"terminated: {data.get('reason', '')}"
        case "DocumentRecorded":
            return (
                f"document “{data.get('name', '')}” recorded"
                f" ({data.get('media_type', '')}, SHA-256 {str(data.get('sha256', ''))[:12]}…)"
            )
        case "DelegationFormed":
            return f"delegation “{data.get('name', '')}”"
        case "EventCorrected":
            return f"{corrections.describe(data.get('changes'))} — {data.get('reason', '')}"
    return event.type


def _because(data: dict[str, Any]) -> str:
    return f": {data['reason']}" if data.get("reason") else ""


def actor(event: RecordedEvent) -> str:
    metadata: Any = msgspec.json.decode(event.metadata)
    return str(metadata.get("actor", "")) if isinstance(metadata, dict) else ""


async def person_secret(services: Services, may_read_reports: bool) -> bytes | None:
    """The key of person ids, for a page whose reader may open a person's report (auditors,
    admins): the page links each name to it (`render.person_page`). None for anyone else."""
    return await log_secret(services.store.engine) if may_read_reports else None


_ERASED_NAME = re.compile(rb"\[erased ([0-9a-f]{32})\]")


@dataclass(frozen=True, slots=True)
class ErasedName:
    """What a page says beside an erased name's placeholder: whose (the person page's id),
    when and on what legal basis it was erased (`PersonalDataErased` holds no personal data,
    so anyone who may read the page may read this)."""

    person_id: str
    erased_at: str
    legal_basis: str


async def erasures_shown(services: Services, *views: object) -> dict[str, ErasedName]:
    """The erasures behind the name placeholders (`[erased <person_id>]`) in `views` (read
    models, or events' data as stored), by
    placeholder: a page links each to the erasure (as the person page says it) instead of
    leaving an unexplained placeholder. A placeholder left by a correction's
    `erase_original` has no erasure record, and is shown as it is."""
    found: dict[str, ErasedName] = {}
    encoded = [view if isinstance(view, bytes) else msgspec.json.encode(view) for view in views]
    ids = {m.decode() for raw in encoded for m in _ERASED_NAME.findall(raw)}
    for person_id in sorted(ids):
        info = await latest_erasure(services.store, person_id)
        if info is not None:
            found[f"[erased {person_id}]"] = ErasedName(
                person_id, info.recorded_at, info.legal_basis
            )
    return found
