"""Owner ids for names in any script: distinct names never share an id (two people of the
Tokyo office written in kanji were one owner), Latin names keep their readable ids."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalogue import Owner, Person, name_id, owner_id
from events.personal import person_id
from tests.conftest import Api

TOKYO = "FIT Tokyo office"
SATO = {"unit": TOKYO, "person": {"name": "佐藤花子", "name_latin": "Hanako Sato"}}
SUZUKI = {"unit": TOKYO, "person": {"name": "鈴木一郎", "name_latin": "Ichiro Suzuki"}}
URL_SAFE = set("abcdefghijklmnopqrstuvwxyz0123456789-")


SECRET = b"a log's person-id secret"


def test_a_named_owners_id_is_its_units_slug_and_the_persons_id() -> None:
    els = Owner(unit=TOKYO, person=Person(name="Els Verhulst", title="Head"))
    assert owner_id(els, SECRET) == f"fit-tokyo-office--{person_id(SECRET, 'Els Verhulst')}"
    assert "els" not in owner_id(els, SECRET).split("--")[1]  # no part of the name
    assert owner_id(Owner(unit="Ministry of Economy, Trade and Industry"), SECRET) == (
        "ministry-of-economy-trade-and-industry"
    )
    # the same person in two units is two owners; another log's secret, other ids
    assert owner_id(Owner(unit="FIT Osaka office", person=els.person), SECRET) != (
        owner_id(els, SECRET)
    )
    assert owner_id(els, b"another log") != owner_id(els, SECRET)


def test_an_erasure_leaves_the_owner_id_as_it_was() -> None:
    els = Owner(unit=TOKYO, person=Person(name="Els Verhulst"))
    erased = Owner(unit=TOKYO, person=Person(name=f"[erased {person_id(SECRET, 'Els Verhulst')}]"))
    assert owner_id(erased, SECRET) == owner_id(els, SECRET)


def test_names_in_other_scripts_get_distinct_ids() -> None:
    sato = owner_id(Owner(unit=TOKYO, person=Person(name="佐藤花子")), SECRET)
    suzuki = owner_id(Owner(unit=TOKYO, person=Person(name="鈴木一郎")), SECRET)
    assert sato != suzuki
    assert sato.startswith("fit-tokyo-office--") and suzuki.startswith("fit-tokyo-office--")
    assert name_id("外務省") != name_id("경제산업부")
    # Accents are not dropped silently: Müller and Muller are two people.
    assert name_id("Müller") != name_id("Muller")
    assert name_id("Müller").startswith("muller-")
    assert owner_id(Owner(unit=TOKYO, person=Person(name="Müller")), SECRET) != owner_id(
        Owner(unit=TOKYO, person=Person(name="Muller")), SECRET
    )


def test_the_latin_form_and_titles_do_not_change_who_the_owner_is() -> None:
    plain = Owner(unit=TOKYO, person=Person(name="佐藤花子"))
    romanised = Owner(
        unit=TOKYO, person=Person(name="佐藤花子", name_latin="Hanako Sato", title="課長")
    )
    assert owner_id(plain, SECRET) == owner_id(romanised, SECRET)


def test_the_same_name_typed_on_two_keyboards_is_one_id() -> None:
    assert name_id("Direcci\u00f3n General") == name_id("Direccio\u0301n General")


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_ids_are_url_safe_and_distinct_for_distinct_non_ascii_names(a: str, b: str) -> None:
    for text in (a, b):
        assert name_id(text) and set(name_id(text)) <= URL_SAFE
        assert "--" not in name_id(text)
    if not (a.isascii() and b.isascii()):
        import unicodedata

        if unicodedata.normalize("NFC", a) != unicodedata.normalize("NFC", b):
            assert name_id(a) != name_id(b)


async def _get(api: Api, url: str, **params: Any) -> dict[str, Any]:
    response = await api.client.get(url, params=params, headers=api.auth("viewer"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _record(api: Api, stream_id: str, *events: dict[str, Any]) -> int:
    response = await api.client.post(
        f"/streams/{stream_id}/events", json={"events": list(events)}, headers=api.auth("recorder")
    )
    assert response.status_code == 201, response.text
    position: int = response.json()["to_position"]
    return position


def _event(type_name: str, /, **data: Any) -> dict[str, Any]:
    return {"type": type_name, "data": data}


async def test_two_japanese_owners_in_one_unit_and_a_hand_over_between_them(api: Api) -> None:
    stream = "agreement-tokyo-2026"
    head = await _record(
        api,
        stream,
        _event(
            "AgreementSigned",
            kind="MoU",
            title="Tokyo MoU",
            parties=[{"organisation": "FIT"}, {"organisation": "JETRO"}],
            signed_on="2026-01-10",
        ),
        _event("ResponsibilityAssigned", owner=SATO, assigned_by="FIT", assigned_on="2026-01-11"),
        _event(
            "FollowUpOpened", follow_up_id="visit", title="Visit", owner=SATO, due_on="2026-02-01"
        ),
        _event(
            "FollowUpOpened", follow_up_id="call", title="Call", owner=SUZUKI, due_on="2026-02-02"
        ),
    )
    owners = (await _get(api, "/owners", wait_for_position=head))["owners"]
    mine = {o["owner_id"]: o for o in owners if o["unit"] == TOKYO}
    assert len(mine) == 2
    names = {o["person"]["name"] for o in mine.values()}
    assert names == {"佐藤花子", "鈴木一郎"}
    for owner_id_, owner in mine.items():
        got = await _get(api, f"/owners/{owner_id_}", wait_for_position=head)
        assert got["owner"]["person"]["name"] == owner["person"]["name"]

    # A hand-over from one to the other is not refused as a transfer to the same owner.
    head = await _record(
        api,
        stream,
        _event(
            "ResponsibilityTransferred",
            from_owner=SATO,
            to_owner=SUZUKI,
            transferred_on="2026-01-20",
        ),
    )
    doc = (await _get(api, f"/partnerships/{stream}", wait_for_position=head))["partnership"]
    assert doc["owner"]["person"]["name"] == "鈴木一郎"
    assert doc["owner"]["person"]["name_latin"] == "Ichiro Suzuki"
