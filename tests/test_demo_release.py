"""The demo records the press release in its own words: every title given to a person is one
the release uses (it said "Minister of Economy", not the ministry's full name). The release is
a copy of the shared seed, kept beside the tests so that a clean clone runs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from service.demo import SEED

_RELEASE_IN_REPO = Path(__file__).parent / "data" / "bem-japan-2022-release.txt"


def _people(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        found = [value] if "name" in value and "title" in value else []
        return found + [p for v in value.values() for p in _people(v)]
    if isinstance(value, list):
        return [p for v in value for p in _people(v)]
    return []


def test_titles_and_organisations_are_the_release_s_words() -> None:
    text = " ".join(_RELEASE_IN_REPO.read_text(encoding="utf-8").split()).casefold()
    people = [
        person
        for _, events in SEED
        for event in events
        for person in _people(msgspec.to_builtins(event.data))
    ]
    assert people
    for person in people:
        title = person["title"]
        assert title.casefold() in text, f"{person['name']}: {title!r}"
    nishimura = next(p for p in people if p["name"] == "Yasutoshi Nishimura")
    assert nishimura["title"] == "Minister of Economy"


def _events(stream_id: str) -> list[Any]:
    return [msgspec.to_builtins(e.data) | {"type": e.type} for e in dict(SEED)[stream_id]]


def test_settlemint_and_fujitsu_were_announced_not_signed() -> None:
    """The release: "SettleMint announced this news the day before the Belgian Economic
    Mission" and "the MoC signing was followed by the endorsement of a partnership": no
    signing date, and no endorser named."""
    events = _events("agreement-settlemint-fujitsu-2022")
    assert [e["type"] for e in events] == [
        "AgreementAnnounced",
        "AgreementEndorsed",
        "NoteAttached",
    ]
    assert events[0]["announced_on"] == "2022-12-04"
    endorsement = events[1]
    assert endorsement == {"type": "AgreementEndorsed", "endorsed_on": "2022-12-05"}


def test_the_mission_has_no_invented_organiser() -> None:
    (formed,) = _events("delegation-bem-japan-2022")
    assert "organiser" not in formed
    text = " ".join(_RELEASE_IN_REPO.read_text(encoding="utf-8").split()).casefold()
    assert "organised by" not in text and "organized by" not in text


def test_every_named_person_is_named_in_the_release() -> None:
    text = " ".join(_RELEASE_IN_REPO.read_text(encoding="utf-8").split()).casefold()
    names = {
        person["name"]
        for _, events in SEED
        for event in events
        for person in _people(msgspec.to_builtins(event.data))
    } | {
        p["name"]
        for _, events in SEED
        for event in events
        for p in _named(msgspec.to_builtins(event.data))
    }
    assert names
    for name in names:
        assert name.casefold() in text, name


def _named(value: Any) -> list[dict[str, Any]]:
    """Every person-shaped value (a `name` and nothing that is not a person's field)."""
    if isinstance(value, dict):
        found = (
            [value]
            if "name" in value and set(value) <= {"name", "title", "organisation", "name_latin"}
            else []
        )
        return found + [p for v in value.values() for p in _named(v)]
    if isinstance(value, list):
        return [p for v in value for p in _named(v)]
    return []
