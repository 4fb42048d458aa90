"""Valid agreement and delegation histories for property tests, and in-memory recording.

`agreement_history` and `delegation_history` draw event data that today's deciders accept
(dates on or after signing, transfers from the current owner, follow-ups closed once, only
closing or moving follow-ups, notes and documents after termination). Some agreements start
with an announcement: endorsed, documented or called off before a signing that may never come
(and may date from before the announcement). `log_plan` interleaves several
streams into the order they are appended. `recorded` turns event data into `RecordedEvent`s
without a database, for the pure folds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import uuid
from collections.abc import Sequence

import msgspec
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from events.catalogue import (
    AgreementAmended,
    AgreementAnnounced,
    AgreementEndorsed,
    AgreementRenewed,
    AgreementSigned,
    AgreementTerminated,
    AgreementWitnessed,
    DelegationFormed,
    DocumentRecorded,
    EventData,
    FollowUpCancelled,
    FollowUpCompleted,
    FollowUpOpened,
    FollowUpReassigned,
    FollowUpReopened,
    FollowUpRescheduled,
    NoteAttached,
    Owner,
    Party,
    Person,
    Renewal,
    ResponsibilityAssigned,
    ResponsibilityTransferred,
    encode_data,
    owner_id,
)
from events.envelope import GENESIS_HASH, Metadata, Proposed, RecordedEvent, format_timestamp
from events.store import EventStore
from projections.schema import LIVE, checkpoints

ORGANISATIONS = ["FIT", "JETRO", "imec", "Rapidus", "SettleMint", "Fujitsu", "VLAIO", "METI"]
SECTORS = ["semiconductors", "startups", "blockchain", "health", "Logistics"]
PEOPLE = [
    Person(name="Els Verhulst", title="Counselor"),
    Person(name="Kenji Sato"),
    Person(name="Joy Donné", title="CEO", organisation="FIT"),
]
UNITS = ["FIT Tokyo office", "FIT Osaka office", "VLAIO"]
JAPANESE = [
    Person(name="佐藤花子", name_latin="Hanako Sato"),
    Person(name="鈴木一郎", title="課長"),
]
SECRET = b"the person-id secret of the strategies' owners"
"""Only to tell owners apart here (a log's own secret keys the ids its views show)."""
OWNERS = [Owner(unit=unit) for unit in UNITS] + [
    Owner(unit=unit, person=person) for unit in UNITS[:2] for person in [*PEOPLE[:2], *JAPANESE]
]

_START = dt.date(2022, 1, 1)
RENEWALS: list[Renewal | None] = [None, "none", "automatic", "by_decision"]


def _after(draw: st.DrawFn, day: dt.date) -> dt.date:
    return day + dt.timedelta(days=draw(st.integers(0, 400)))


def _document(draw: st.DrawFn, number: int) -> DocumentRecorded:
    content = draw(st.binary(min_size=1, max_size=64))
    return DocumentRecorded(
        document_id=f"doc-{number}",
        name=f"document {number}.pdf",
        media_type=draw(st.sampled_from(["application/pdf", "image/png"])),
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        location=draw(st.none() | st.just(f"https://dms.example.org/doc-{number}.pdf")),
    )


def _endorsement(draw: st.DrawFn, day: dt.date) -> AgreementEndorsed:
    return AgreementEndorsed(
        endorser=draw(st.none() | st.sampled_from(PEOPLE)),
        on_behalf_of=draw(st.sampled_from(["METI", "Government of Flanders"])),
        endorsed_on=day,
    )


def _announced(
    draw: st.DrawFn, organisations: list[str], parties: list[Party]
) -> tuple[list[EventData], bool]:
    """An announcement and what may follow it before a signing: (events, called off)."""
    announced_on = _START + dt.timedelta(days=draw(st.integers(0, 900)))
    history: list[EventData] = [
        AgreementAnnounced(
            kind=draw(st.sampled_from(["MoC", "MoU", "partnership", "other"])),
            title=f"{' and '.join(organisations)} partnership",
            parties=parties,
            announced_on=announced_on,
            sectors=draw(st.lists(st.sampled_from(SECTORS), max_size=2, unique=True)),
        )
    ]
    ended = False
    for _ in range(draw(st.integers(0, 4))):
        choices = ["note", "document"] + ([] if ended else ["endorse", "terminate"])
        day = _after(draw, announced_on)
        match draw(st.sampled_from(choices)):
            case "note":
                history.append(NoteAttached(text=f"note {len(history)}"))
            case "document":
                history.append(_document(draw, 100 + len(history)))
            case "endorse":
                history.append(_endorsement(draw, day))
            case "terminate":
                ended = True
                history.append(AgreementTerminated(terminated_on=day, reason="called off"))
    return history, ended


@st.composite
def agreement_history(draw: st.DrawFn, max_events: int = 25) -> list[EventData]:
    signed_on = _START + dt.timedelta(days=draw(st.integers(0, 900)))
    organisations = draw(
        st.lists(st.sampled_from(ORGANISATIONS), min_size=2, max_size=3, unique=True)
    )
    parties = [
        Party(organisation=name, signatory=draw(st.none() | st.sampled_from(PEOPLE)))
        for name in organisations
    ]
    expires_on = draw(
        st.none() | st.builds(lambda d: signed_on + dt.timedelta(days=d), st.integers(1, 1500))
    )
    renewal = None if expires_on is None else draw(st.sampled_from(RENEWALS))
    history: list[EventData] = []
    if draw(st.integers(0, 3)) == 0:
        history, called_off = _announced(draw, organisations, parties)
        if called_off or draw(st.booleans()):
            return history  # announced, never signed
        announced = history[0]
        assert isinstance(announced, AgreementAnnounced)
        # Signed on the day, before (announced later) or after the announcement.
        signed_on = announced.announced_on + dt.timedelta(days=draw(st.integers(-60, 60)))
        if expires_on is not None and expires_on <= signed_on:
            expires_on = signed_on + dt.timedelta(days=1)
    history += [
        AgreementSigned(
            kind=draw(st.sampled_from(["MoC", "MoU", "partnership", "other"])),
            title=f"{' and '.join(organisations)} cooperation",
            parties=parties,
            signed_on=signed_on,
            place=draw(st.none() | st.sampled_from(["Tokyo", "Osaka"])),
            sectors=draw(st.lists(st.sampled_from(SECTORS), max_size=3, unique=True)),
            expires_on=expires_on,
            renewal=renewal,
            renewal_term_months=draw(st.sampled_from([1, 12, 36]))
            if renewal == "automatic"
            else None,
        )
    ]
    owner: Owner | None = None
    open_ids: list[str] = []
    closed_ids: list[str] = []
    opened = 0
    documents = 0
    ended = False
    for _ in range(draw(st.integers(0, max_events))):
        choices = ["note", "document"]
        if open_ids:
            choices += ["complete", "cancel", "reschedule", "reassign"]
        if not ended:
            choices += ["witness", "endorse", "assign", "open", "open", "amend", "terminate"]
            if owner is not None:
                choices.append("transfer")
            if expires_on is not None:
                choices.append("renew")
            if closed_ids:
                choices.append("reopen")
        day = _after(draw, signed_on)
        match draw(st.sampled_from(choices)):
            case "note":
                history.append(NoteAttached(text=f"note {len(history)}"))
            case "document":
                documents += 1
                history.append(_document(draw, documents))
            case "witness":
                history.append(
                    AgreementWitnessed(witness=draw(st.sampled_from(PEOPLE)), witnessed_on=day)
                )
            case "endorse":
                history.append(_endorsement(draw, day))
            case "assign":
                owner = draw(st.sampled_from(OWNERS))
                history.append(
                    ResponsibilityAssigned(owner=owner, assigned_by="FIT", assigned_on=day)
                )
            case "transfer":
                assert owner is not None
                current = owner_id(owner, SECRET)
                new = draw(st.sampled_from([o for o in OWNERS if owner_id(o, SECRET) != current]))
                history.append(
                    ResponsibilityTransferred(
                        from_owner=owner,
                        to_owner=new,
                        transferred_on=day,
                        move_open_follow_ups=draw(st.booleans()),
                    )
                )
                owner = new
            case "open":
                opened += 1
                follow_up_id = f"fu-{opened}"
                open_ids.append(follow_up_id)
                history.append(
                    FollowUpOpened(
                        follow_up_id=follow_up_id,
                        title=f"follow-up {opened}",
                        owner=draw(st.sampled_from(OWNERS)),
                        due_on=day,
                    )
                )
            case "complete":
                follow_up_id = open_ids.pop(draw(st.integers(0, len(open_ids) - 1)))
                closed_ids.append(follow_up_id)
                outcome = draw(st.none() | st.just("done"))
                history.append(
                    FollowUpCompleted(follow_up_id=follow_up_id, completed_on=day, outcome=outcome)
                )
            case "cancel":
                follow_up_id = open_ids.pop(draw(st.integers(0, len(open_ids) - 1)))
                closed_ids.append(follow_up_id)
                history.append(
                    FollowUpCancelled(follow_up_id=follow_up_id, cancelled_on=day, reason="moot")
                )
            case "amend":
                history.append(
                    AgreementAmended(amended_on=day, summary=f"amendment {len(history)}")
                )
            case "reschedule":
                history.append(
                    FollowUpRescheduled(follow_up_id=draw(st.sampled_from(open_ids)), due_on=day)
                )
            case "reassign":
                history.append(
                    FollowUpReassigned(
                        follow_up_id=draw(st.sampled_from(open_ids)),
                        owner=draw(st.sampled_from(OWNERS)),
                    )
                )
            case "reopen":
                follow_up_id = closed_ids.pop(draw(st.integers(0, len(closed_ids) - 1)))
                open_ids.append(follow_up_id)
                history.append(
                    FollowUpReopened(follow_up_id=follow_up_id, reopened_on=day, reason="again")
                )
            case "renew":
                assert expires_on is not None
                expires_on += dt.timedelta(days=draw(st.integers(1, 1500)))
                history.append(AgreementRenewed(renewed_on=day, expires_on=expires_on))
            case "terminate":
                ended = True
                history.append(AgreementTerminated(terminated_on=day, reason="ended"))
    return history


@st.composite
def delegation_history(draw: st.DrawFn) -> list[EventData]:
    starts_on = _START + dt.timedelta(days=draw(st.integers(0, 900)))
    history: list[EventData] = [
        DelegationFormed(
            name="Economic mission",
            leader=draw(st.sampled_from(PEOPLE)),
            organiser="FIT",
            member_count=draw(st.integers(1, 500)),
            starts_on=starts_on,
            ends_on=starts_on + dt.timedelta(days=draw(st.integers(0, 10))),
            destinations=draw(
                st.lists(st.sampled_from(["Tokyo", "Nagoya", "Osaka"]), min_size=1, unique=True)
            ),
            country="Japan",
        )
    ]
    history += [NoteAttached(text=f"note {i}") for i in range(draw(st.integers(0, 3)))]
    return history


@st.composite
def log_plan(
    draw: st.DrawFn, max_agreements: int = 6, max_delegations: int = 2, max_events: int = 25
) -> list[tuple[str, list[EventData]]]:
    """Appends in order: (stream_id, events), each stream's history cut into 1..3 batches and
    the batches of all streams interleaved (each stream's own order kept)."""
    streams: list[tuple[str, list[EventData]]] = []
    for i in range(draw(st.integers(1, max_agreements))):
        streams.append((f"agreement-a{i}", draw(agreement_history(max_events))))
    for i in range(draw(st.integers(0, max_delegations))):
        streams.append((f"delegation-d{i}", draw(delegation_history())))
    pieces: list[list[tuple[str, list[EventData]]]] = []
    for stream_id, history in streams:
        cuts = sorted(draw(st.sets(st.integers(1, max(1, len(history) - 1)), max_size=2)))
        bounds = [0, *[c for c in cuts if c < len(history)], len(history)]
        pieces.append([(stream_id, history[a:b]) for a, b in itertools.pairwise(bounds) if b > a])
    tags = [index for index, piece in enumerate(pieces) for _ in piece]
    order = draw(st.permutations(tags))
    cursor = [0] * len(pieces)
    plan = []
    for index in order:
        plan.append(pieces[index][cursor[index]])
        cursor[index] += 1
    return plan


def business_time(data: EventData) -> dt.datetime:
    """Midnight UTC of the date the event carries (a follow-up: its due date), else 2022-01-01."""
    for field in (
        "signed_on",
        "announced_on",
        "witnessed_on",
        "endorsed_on",
        "assigned_on",
        "transferred_on",
        "due_on",
        "completed_on",
        "cancelled_on",
        "amended_on",
        "terminated_on",
        "starts_on",
    ):
        day = getattr(data, field, None)
        if isinstance(day, dt.date):
            return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return dt.datetime(2022, 1, 1, tzinfo=dt.UTC)


def proposed(history: Sequence[EventData]) -> list[Proposed]:
    return [
        Proposed(
            type=data.type_name,
            data=data,
            occurred_at=business_time(data),
            event_id=str(uuid.uuid4()),
        )
        for data in history
    ]


def recorded(
    stream_id: str, history: Sequence[EventData], *, start_position: int = 1, start_version: int = 1
) -> list[RecordedEvent]:
    """Event data as the log would return it (hashes left out: the folds ignore them)."""
    return [
        RecordedEvent(
            position=start_position + offset,
            event_id=str(uuid.uuid4()),
            stream_id=stream_id,
            version=start_version + offset,
            type=data.type_name,
            schema_version=data.schema_version,
            occurred_at=format_timestamp(business_time(data)),
            recorded_at=format_timestamp(
                dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
                + dt.timedelta(seconds=start_position + offset)
            ),
            data=msgspec.Raw(encode_data(data)),
            metadata=msgspec.Raw(b'{"actor":"test"}'),
            prev_hash=GENESIS_HASH,
            hash=GENESIS_HASH,
        )
        for offset, data in enumerate(history)
    ]


# -- recording into a real store, and reading projection tables back -------------------------

ACTOR = Metadata(actor="tests")


async def append_plan(
    store: EventStore, plan: Sequence[tuple[str, Sequence[EventData]]]
) -> list[int]:
    """Append each (stream_id, events) batch in order; the log's position after each."""
    positions = []
    for stream_id, history in plan:
        result = await store.append(stream_id, proposed(history), metadata=ACTOR)
        positions.append(result.to_position)
    return positions


async def table_rows(engine: AsyncEngine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every live projection table and the checkpoints, in key order."""
    rows: dict[str, list[tuple[object, ...]]] = {}
    async with engine.connect() as connection:
        for table in (*LIVE.tables, checkpoints):
            key = [column for column in table.primary_key.columns]
            result = await connection.execute(select(table).order_by(*key))
            rows[table.name] = [tuple(row) for row in result]
    return rows
