"""What the pages read, in one place: the glue between the pages and the read side.

Pages call these functions, never the JSON routes, so a change in the shapes the API serves
(paging, summaries) is adapted here once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from events.envelope import RecordedEvent
from projections.as_of import Cut
from projections.delegation_view import Delegation
from projections.facade import Projections
from projections.owner_view import OwnerSummary
from projections.partnership_view import FollowUp, Partnership
from projections.reader import stream_id
from service.problems import NotFound
from service.routes.base import Services

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
) -> list[Partnership]:
    found, _ = await _projections(services).list_partnerships(
        status=status, owner=owner, sector=sector
    )
    return found


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


def search(found: list[Partnership], words: str) -> list[Partnership]:
    """Partnerships whose title, parties, signatories or summary contain every word."""
    terms = [w.casefold() for w in words.split() if w]
    if not terms:
        return found

    def text(p: Partnership) -> str:
        parts = [p.title, p.summary or "", p.place or "", *p.sectors]
        for party in p.parties:
            parts.append(party.organisation)
            if party.signatory is not None:
                parts.append(party.signatory.name)
        if p.owner is not None:
            parts += [p.owner.unit, p.owner.person.name if p.owner.person else ""]
        return " ".join(parts).casefold()

    return [p for p in found if all(t in text(p) for t in terms)]


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
            changes = data.get("changes")
            fields = ", ".join(sorted(changes)) if isinstance(changes, dict) else ""
            return f"correction of {fields or 'an earlier event'}: {data.get('reason', '')}"
    return event.type


def corrections(history: Sequence[RecordedEvent]) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Among `history`: the positions of each corrected event's corrections (by its id), and
    the version each correction corrects (by the correction's id; left out when the corrected
    event is older than `history`)."""
    versions = {event.event_id: event.version for event in history}
    corrected_by: dict[str, list[int]] = {}
    corrects: dict[str, int] = {}
    for event in history:
        if event.type != "EventCorrected":
            continue
        data: Any = msgspec.json.decode(event.data)
        target = str(data.get("corrects", "")) if isinstance(data, dict) else ""
        corrected_by.setdefault(target, []).append(event.position)
        if target in versions:
            corrects[event.event_id] = versions[target]
    return corrected_by, corrects


def actor(event: RecordedEvent) -> str:
    metadata: Any = msgspec.json.decode(event.metadata)
    return str(metadata.get("actor", "")) if isinstance(metadata, dict) else ""
