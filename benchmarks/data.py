"""Valid agreement histories to append: what staff would record, about 300 bytes an event.

Version 1 of a stream is its signing; later versions cycle through witnesses, owners,
follow-ups opened and completed, endorsements and notes, so the deciders, the projections and
the as-of fold all do their usual work. Dates never precede the signing.
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec

from events.catalogue import (
    AgreementEndorsed,
    AgreementSigned,
    AgreementWitnessed,
    EventData,
    FollowUpCompleted,
    FollowUpOpened,
    NoteAttached,
    Owner,
    Party,
    Person,
    ResponsibilityAssigned,
)
from events.envelope import Metadata, Proposed

METADATA = Metadata(actor="bench-recorder", user_agent="benchmarks/1")

_SIGNED_ON = dt.date(2022, 12, 6)
_UNITS = [f"Department of International Cooperation {n}" for n in range(20)]
_PEOPLE = [f"Officer Number {n}" for n in range(10)]
_SECTORS = ["semiconductors", "startups", "health", "energy", "logistics", "space"]
_TEXT = (
    "Progress report on the joint programme: both parties met, reviewed milestones and agreed "
    "on the next steps for the exchange of researchers and the pilot line."
)


def stream_id(prefix: str, number: int | str) -> str:
    return f"agreement-{prefix}-{number}"


def event_data(stream_no: int, version: int) -> EventData:
    """The `version`-th fact of agreement number `stream_no` (deterministic)."""
    if version == 1:
        return _signed(stream_no)
    day = _SIGNED_ON + dt.timedelta(days=version)
    person = Person(name=_PEOPLE[(stream_no + version) % len(_PEOPLE)], title="Programme lead")
    owner = Owner(unit=_UNITS[(stream_no + version) % len(_UNITS)], person=person)
    match version % 6:
        case 2:
            witness = Person(name=f"Witness {version}", title="Ambassador", organisation="Embassy")
            return AgreementWitnessed(witness=witness, witnessed_on=day)
        case 3:
            return ResponsibilityAssigned(
                owner=owner, assigned_by="Board of Directors", assigned_on=day, scope=_TEXT[:90]
            )
        case 4:
            return FollowUpOpened(
                follow_up_id=f"fu-{version}",
                title="Report on the progress of the joint programme",
                owner=owner,
                due_on=day + dt.timedelta(days=30),
            )
        case 5:
            return FollowUpCompleted(
                follow_up_id=f"fu-{version - 1}", completed_on=day, outcome=_TEXT
            )
        case 0:
            return AgreementEndorsed(
                endorser=person, on_behalf_of="Ministry of Economy", endorsed_on=day
            )
        case _:
            return NoteAttached(text=_TEXT * 2, link=f"https://example.org/minutes/{version}")


def _signed(stream_no: int) -> AgreementSigned:
    return AgreementSigned(
        kind="MoU",
        title=f"Memorandum of Understanding on research cooperation no. {stream_no}",
        parties=[
            Party(
                organisation=f"Research Institute {stream_no}",
                country="Belgium",
                signatory=Person(name="Director General", title="CEO"),
            ),
            Party(
                organisation=f"Manufacturing Corporation {stream_no}",
                country="Japan",
                signatory=Person(name="Representative Director", title="President"),
            ),
        ],
        signed_on=_SIGNED_ON,
        place="Tokyo",
        sectors=[_SECTORS[stream_no % len(_SECTORS)]],
        summary=_TEXT,
    )


def proposed(stream_no: int, first_version: int, count: int) -> list[Proposed]:
    """`count` events from `first_version` on, as a client sends them: raw JSON data (the store
    validates it) and client-chosen event ids (so the store does its idempotency lookup)."""
    return [
        Proposed(
            type=(data := event_data(stream_no, version)).type_name,
            data=msgspec.json.encode(data),
            occurred_at=dt.datetime.combine(
                _SIGNED_ON + dt.timedelta(days=version), dt.time(9), tzinfo=dt.UTC
            ),
            event_id=str(uuid.uuid4()),
        )
        for version in range(first_version, first_version + count)
    ]
