""" "My follow-ups" over HTTP: the person says which owner they are (or their token's name
says it), and the page lists that owner's follow-ups with the work list's filters."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from service.web import data
from tests._owners import els_of
from tests.conftest import Api
from tests.test_web import AGREEMENT, _agreement, _csrf, sign_in

OSAKA = "fit-osaka-office"


async def _follow_ups(api: Api) -> dt.date:
    """Follow-ups of two owners on one agreement, due around today; today."""
    await _agreement(api)
    today = api.services.settings.current_date()

    def opened(fid: str, days: int, owner: dict[str, object]) -> dict[str, object]:
        due = (today + dt.timedelta(days=days)).isoformat()
        data = {"follow_up_id": fid, "title": f"Task {fid}", "due_on": due, "owner": owner}
        return {"type": "FollowUpOpened", "data": data}

    els = {"unit": "FIT Tokyo office", "person": {"name": "Els Verhulst"}}
    events = [
        opened("late", -3, els),
        opened("soon", 5, els),
        opened("later", 60, els),
        opened("done", 10, els),
        opened("osaka", 5, {"unit": "FIT Osaka office"}),
        {
            "type": "FollowUpCompleted",
            "data": {"follow_up_id": "done", "completed_on": "2023-01-01"},
        },
    ]
    answer = await api.client.post(
        f"/streams/{AGREEMENT}/events", json={"events": events}, headers=api.auth("recorder")
    )
    assert answer.status_code == 201, answer.text
    assert api.services.projections is not None
    await api.services.projections.wait_for(answer.json()["to_position"], 10)
    return today


def _listed(text: str) -> list[str]:
    return re.findall(r"<td dir=\"auto\">Task ([a-z]+)</td>", text)


async def _choose(api: Api, owner: str) -> int:
    page = await api.client.get("/web/my-follow-ups")
    answer = await api.client.post(
        "/web/my-follow-ups", data={"csrf": _csrf(page.text), "owner": owner}
    )
    return answer.status_code


async def test_a_person_chooses_the_owner_they_are_and_sees_its_follow_ups(api: Api) -> None:
    els = await els_of(api.services.store.engine)
    await _follow_ups(api)
    await sign_in(api, "recorder")
    page = await api.client.get("/web/my-follow-ups")
    assert page.status_code == 200
    assert "Choose the owner you are" in page.text and _listed(page.text) == []

    assert await _choose(api, els) == 303
    page = await api.client.get("/web/my-follow-ups")
    assert "You follow up as" in page.text and "Els Verhulst" in page.text
    assert _listed(page.text) == ["late", "soon", "later"]  # open, by due date; not Osaka's
    assert page.text.count('<strong class="badge">overdue</strong>') == 1

    filtered = {
        "due=overdue": ["late"],
        "due=7": ["soon"],
        "due=90": ["soon", "later"],
        "state=completed": ["done"],
        "state=&due=30": ["soon", "done"],
    }
    for query, expected in filtered.items():
        listed = _listed((await api.client.get(f"/web/my-follow-ups?{query}")).text)
        if query == "state=&due=30":
            expected = ["soon"]  # "due within" is about open follow-ups
        assert listed == expected, query

    assert await _choose(api, OSAKA) == 303
    assert _listed((await api.client.get("/web/my-follow-ups")).text) == ["osaka"]


async def test_the_list_pages_through_the_follow_ups(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    els = await els_of(api.services.store.engine)
    monkeypatch.setattr(data, "FOLLOW_UPS_SHOWN", 2)
    await _follow_ups(api)
    await sign_in(api, "recorder")
    await _choose(api, els)
    first = await api.client.get("/web/my-follow-ups")
    assert _listed(first.text) == ["late", "soon"]
    found = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert found is not None
    second = await api.client.get(found[1].replace("&amp;", "&"))
    assert _listed(second.text) == ["later"]
    assert 'rel="next"' not in second.text
    broken = await api.client.get("/web/my-follow-ups?after=not-a-key")
    assert broken.status_code == 200 and _listed(broken.text) == ["late", "soon"]


async def test_a_token_named_as_an_owner_is_that_owner_until_it_chooses(api: Api) -> None:
    await _follow_ups(api)
    made = await api.client.post(
        "/admin/tokens", json={"name": "els verhulst", "role": "viewer"}, headers=api.auth("admin")
    )
    assert made.status_code == 201
    api.tokens["els"] = made.json()["token"]
    await sign_in(api, "els")
    page = await api.client.get("/web/my-follow-ups")
    assert "name matches this owner" in page.text, page.text[page.text.index("<main") :][:1500]
    assert _listed(page.text) == ["late", "soon", "later"]


async def test_the_choice_belongs_to_the_token_it_was_made_with(api: Api) -> None:
    await _follow_ups(api)
    await sign_in(api, "recorder")
    await _choose(api, OSAKA)
    kept = api.client.cookies["agr_me"]
    api.client.cookies.clear()
    await sign_in(api, "viewer")
    api.client.cookies.set("agr_me", kept)
    page = await api.client.get("/web/my-follow-ups")
    assert "Choose the owner you are" in page.text and _listed(page.text) == []


async def test_choosing_needs_the_csrf_token_and_a_known_owner(api: Api) -> None:
    els = await els_of(api.services.store.engine)
    await _follow_ups(api)
    await sign_in(api, "viewer")
    forged = await api.client.post("/web/my-follow-ups", data={"owner": els})
    assert forged.status_code == 403
    assert await _choose(api, "nobody-we-know") == 400
    assert "agr_me" not in api.client.cookies
