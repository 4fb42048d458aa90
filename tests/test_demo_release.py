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
