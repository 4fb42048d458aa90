"""The demo data set: every fact of the seed press release (FIT-JETRO, imec-Rapidus, 2022).

Source: `seed/000_9163dea5a9c588ee.txt`, "Flanders strengthens cooperation with Japan for
innovation & startups (FIT-JETRO) and semiconductors (IMEC-RAPIDUS)", Brussels, 6 December 2022.

Event ids are uuid5 of a fixed namespace and `<stream_id>/<version>`, so recording the demo
twice is an idempotent retry, not a second copy. The press release gives dates, not times:
business time is midnight UTC of the date, which is the same calendar day in Tokyo (09:00)
and in Brussels (01:00).

Nothing the release does not say is recorded: no organiser for the mission, no signing date
for SettleMint and Fujitsu (the release says the partnership was *announced* on 4 December
and endorsed on the 5th, not by whom), and titles in the release's words.
"""

from __future__ import annotations

import datetime as dt
import uuid

from events.catalogue import (
    AgreementAnnounced,
    AgreementEndorsed,
    AgreementSigned,
    AgreementWitnessed,
    DelegationFormed,
    EventData,
    NoteAttached,
    Owner,
    Party,
    Person,
    ResponsibilityAssigned,
)
from events.envelope import Proposed

DEMO_ACTOR = "demo-loader"

_NAMESPACE = uuid.UUID("5b0e6c1e-4f3a-5d7e-9a51-0c8d2f6b7a13")

DELEGATION_ID = "delegation-bem-japan-2022"

_FLANDERS = "Government of Flanders"
_FIT = "Flanders Investment & Trade"

_JAMBON = Person(name="Jan Jambon", title="Minister-President", organisation=_FLANDERS)


def _day(day: int) -> dt.date:
    return dt.date(2022, 12, day)


def _stream(stream_id: str, facts: list[EventData]) -> tuple[str, list[Proposed]]:
    """Proposed events with stable ids; business time from each fact's own date."""
    return stream_id, [
        Proposed(
            type=data.type_name,
            data=data,
            occurred_at=dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC),
            event_id=str(uuid.uuid5(_NAMESPACE, f"{stream_id}/{version}")),
        )
        for version, (data, day) in enumerate(_with_dates(facts), start=1)
    ]


def _with_dates(facts: list[EventData]) -> list[tuple[EventData, dt.date]]:
    """Each fact with its business date; an undated fact (a note) takes the previous one's."""
    dated: list[tuple[EventData, dt.date]] = []
    for data in facts:
        day = _business_date(data)
        if day is None:
            day = dated[-1][1]
        dated.append((data, day))
    return dated


def _business_date(data: EventData) -> dt.date | None:
    match data:
        case DelegationFormed(starts_on=day):
            return day
        case AgreementSigned(signed_on=day):
            return day
        case AgreementAnnounced(announced_on=day):
            return day
        case AgreementWitnessed(witnessed_on=day):
            return day
        case AgreementEndorsed(endorsed_on=day):
            return day
        case ResponsibilityAssigned(assigned_on=day):
            return day
        case _:
            return None


_DELEGATION = _stream(
    DELEGATION_ID,
    [
        DelegationFormed(
            name="Belgian Economic Mission (BEM) to Japan",
            leader=_JAMBON,
            member_count=258,
            starts_on=_day(5),
            ends_on=_day(9),
            destinations=["Tokyo", "Nagoya", "Osaka"],
            country="Japan",
            programme=(
                "Flanders' trade delegation. For the first time during a BEM, FIT offers a"
                " startup programme in addition to the official programme, under the"
                " Startup.Flanders brand, which brings Flanders to international attention as a"
                " startup hub and the gateway to the Flanders startup ecosystem."
            ),
        )
    ],
)

_FIT_JETRO = _stream(
    "agreement-fit-jetro-2022",
    [
        AgreementSigned(
            kind="MoC",
            title="Memorandum of Cooperation between FIT and JETRO on support for startups",
            parties=[
                Party(
                    organisation=_FIT,
                    country="Belgium",
                    signatory=Person(name="Joy Donné", title="CEO", organisation=_FIT),
                ),
                Party(
                    organisation="Japan External Trade Organization (JETRO)",
                    country="Japan",
                    signatory=Person(
                        name="Ichiro Soné", title="Executive Vice President", organisation="JETRO"
                    ),
                ),
            ],
            signed_on=_day(5),
            place="Shiodome City Center, Tokyo",
            delegation_id=DELEGATION_ID,
            sectors=["startups"],
            summary=(
                "Facilitate the access of Flanders-based startups to the Japanese market while"
                " linking Japanese startups to Flanders' strong technological network and the"
                " European market. The first cooperation agreement for the support of startups"
                " concluded between FIT and another international trade promotion agency."
            ),
        ),
        AgreementWitnessed(witness=_JAMBON, witnessed_on=_day(5)),
    ],
)

_SETTLEMINT_FUJITSU = _stream(
    "agreement-settlemint-fujitsu-2022",
    [
        AgreementAnnounced(
            kind="partnership",
            title="Partnership between SettleMint and Fujitsu on blockchain solutions",
            parties=[
                Party(organisation="SettleMint", country="Belgium"),
                Party(organisation="Fujitsu", country="Japan"),
            ],
            announced_on=_day(4),
            delegation_id=DELEGATION_ID,
            sectors=["blockchain"],
            summary=(
                "SettleMint, the Flanders-based scale-up and blockchain technology pioneer from"
                " Leuven, will help accelerate the digital transformation of Fujitsu's"
                " blockchain solutions. SettleMint announced the partnership the day before the"
                " Belgian Economic Mission."
            ),
        ),
        AgreementEndorsed(endorsed_on=_day(5)),
        NoteAttached(
            text=(
                "Endorsed during the Belgian Economic Mission, right after the FIT-JETRO MoC"
                " signing at Shiodome City Center, Tokyo, which houses Fujitsu."
            )
        ),
    ],
)

_IMEC_RAPIDUS = _stream(
    "agreement-imec-rapidus-2022",
    [
        AgreementSigned(
            kind="MoC",
            title="Memorandum of Cooperation between imec and Rapidus on semiconductors",
            parties=[
                Party(
                    organisation="imec",
                    country="Belgium",
                    signatory=Person(
                        name="Luc Van den hove", title="President and CEO", organisation="imec"
                    ),
                ),
                Party(
                    organisation="Rapidus",
                    country="Japan",
                    signatory=Person(
                        name="Atsuyoshi Koike", title="President and CEO", organisation="Rapidus"
                    ),
                ),
            ],
            signed_on=_day(6),
            place="Tokyo",
            delegation_id=DELEGATION_ID,
            sectors=["semiconductors"],
            summary=(
                "Work together on advanced semiconductor technologies: imec, Flanders' strategic"
                " research center for nanotech, and Japanese chip manufacturer Rapidus."
            ),
        ),
        AgreementEndorsed(endorser=_JAMBON, on_behalf_of=_FLANDERS, endorsed_on=_day(6)),
        AgreementEndorsed(
            endorser=Person(
                name="Yasutoshi Nishimura",
                title="Minister of Economy",
                organisation="Ministry of Economy, Trade & Industry (METI)",
            ),
            on_behalf_of="METI",
            endorsed_on=_day(6),
        ),
        ResponsibilityAssigned(
            owner=Owner(
                unit="FIT Tokyo office",
                person=Person(
                    name="Els Verhulst",
                    title="Science & Technology Counselor for Digital Tech & Health Tech",
                    organisation=_FIT,
                ),
            ),
            assigned_by=_FLANDERS,
            assigned_on=_day(6),
            scope=(
                "strengthen the cooperation between Flanders' and Japan's semiconductor industries"
            ),
        ),
    ],
)

SEED: list[tuple[str, list[Proposed]]] = [
    _DELEGATION,
    _FIT_JETRO,
    _SETTLEMINT_FUJITSU,
    _IMEC_RAPIDUS,
]
"""(stream_id, events) in recording order: the delegation first, then agreements by date."""
