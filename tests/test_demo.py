"""The demo data set records the seed press release completely and passes the rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from events.catalogue import AgreementAnnounced, EventData, decoder_for, encode_data
from events.envelope import Proposed
from events.rules import check_stream_id, decider_for
from service.demo import SEED

ROOT = Path(__file__).resolve().parent.parent


def _data(event: Proposed) -> EventData:
    assert isinstance(event.data, EventData)
    return event.data


@pytest.mark.parametrize(("stream_id", "events"), SEED, ids=[s for s, _ in SEED])
def test_every_seed_stream_passes_its_decider(stream_id: str, events: list[Proposed]) -> None:
    check_stream_id(stream_id)
    decider = decider_for(stream_id)
    data = [_data(e) for e in events]
    decider.check(decider.initial(), data)  # as one batch
    state = decider.initial()
    for item in data:  # and one by one, as separate appends
        decider.check(state, [item])
        state = decider.evolve(state, item)


@pytest.mark.parametrize(("stream_id", "events"), SEED, ids=[s for s, _ in SEED])
def test_seed_events_survive_the_strict_decoder(stream_id: str, events: list[Proposed]) -> None:
    # Structs built in Python skip length and pattern checks; the store's decoder does not.
    for event in events:
        data = _data(event)
        assert event.type == data.type_name
        decoder = decoder_for(event.type)
        assert decoder is not None
        assert decoder.decode(encode_data(data)) == data


def _ids() -> dict[str, list[str | None]]:
    return {stream_id: [e.event_id for e in events] for stream_id, events in SEED}


def test_event_ids_are_unique_and_stable_across_imports() -> None:
    ids = _ids()
    flat = [i for stream in ids.values() for i in stream]
    assert None not in flat
    assert len(set(flat)) == len(flat)
    fresh = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from service.demo import SEED; "
            "print(json.dumps({s: [e.event_id for e in es] for s, es in SEED}))",
        ],
        cwd=ROOT,
        capture_output=True,
        check=True,
        text=True,
    )
    assert json.loads(fresh.stdout) == ids


def _text(events: list[Proposed]) -> str:
    return " ".join(encode_data(_data(e)).decode() for e in events)


def test_the_press_release_facts_are_all_there() -> None:
    streams = dict(SEED)
    assert set(streams) == {
        "delegation-bem-japan-2022",
        "agreement-fit-jetro-2022",
        "agreement-settlemint-fujitsu-2022",
        "agreement-imec-rapidus-2022",
    }
    delegation = _text(streams["delegation-bem-japan-2022"])
    for fact in ("Jan Jambon", "258", "2022-12-05", "2022-12-09", "Tokyo", "Nagoya", "Osaka"):
        assert fact in delegation
    assert "Startup.Flanders" in delegation
    assert [e.type for e in streams["agreement-fit-jetro-2022"]] == [
        "AgreementSigned",
        "AgreementWitnessed",
    ]
    fit_jetro = _text(streams["agreement-fit-jetro-2022"])
    for fact in ("Joy Donné", "Ichiro Soné", "Executive Vice President", "Shiodome City Center"):
        assert fact in fit_jetro
    settlemint = streams["agreement-settlemint-fujitsu-2022"]
    announcement = _data(settlemint[0])
    assert isinstance(announcement, AgreementAnnounced)
    assert str(announcement.announced_on) == "2022-12-04"
    assert "AgreementSigned" not in [e.type for e in settlemint]
    assert "AgreementEndorsed" in [e.type for e in settlemint]
    imec = streams["agreement-imec-rapidus-2022"]
    assert [e.type for e in imec] == [
        "AgreementSigned",
        "AgreementEndorsed",
        "AgreementEndorsed",
        "ResponsibilityAssigned",
    ]
    imec_text = _text(imec)
    for fact in ("Luc Van den hove", "Atsuyoshi Koike", "Yasutoshi Nishimura", "METI"):
        assert fact in imec_text
    for fact in ("FIT Tokyo office", "Els Verhulst", "semiconductor industries"):
        assert fact in imec_text


def test_business_time_is_the_date_of_the_fact() -> None:
    for _, events in SEED:
        for event in events:
            offset = event.occurred_at.utcoffset()
            assert offset is not None and offset.total_seconds() == 0, "business time in UTC"
    dates = {
        stream_id: [e.occurred_at.date().isoformat() for e in events] for stream_id, events in SEED
    }
    assert dates["agreement-settlemint-fujitsu-2022"][:2] == ["2022-12-04", "2022-12-05"]
    assert dates["agreement-imec-rapidus-2022"] == ["2022-12-06"] * 4
