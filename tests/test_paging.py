"""Paged lists over HTTP, on both databases: a walk sees every item of its position exactly
once while appends go on, composes with filters and the past, refuses cursors it did not
give out for that list, bounds `limit`, and names the next page in the body and a Link header.

Appends between pages are interleaved by the test itself and applied before the next page is
asked for (`wait_for_position`), so nothing depends on timing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from projections import reader
from service.cli import record_demo
from tests._owners import els_of
from tests.conftest import Api, signed

FIT_TOKYO = {"unit": "FIT Tokyo office", "person": {"name": "Els Verhulst"}}


async def append(api: Api, name: str, *events: dict[str, Any]) -> int:
    response = await api.client.post(
        f"/streams/agreement-{name}/events",
        json={"events": list(events)},
        headers=api.auth("recorder"),
    )
    assert response.status_code == 201, response.text
    position: int = response.json()["to_position"]
    return position


async def sign(api: Api, name: str, occurred_at: str = "2022-12-06T10:00:00Z") -> int:
    event = signed(title=f"{name} MoC")
    event["occurred_at"] = occurred_at
    return await append(api, name, event)


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {"type": kind, "occurred_at": "2023-01-10T09:00:00Z", "data": data}


def note(text: str) -> dict[str, Any]:
    return event("NoteAttached", text=text)


def terminated() -> dict[str, Any]:
    return event("AgreementTerminated", terminated_on="2023-01-10", reason="ended early")


async def applied(api: Api, position: int) -> None:
    """Wait until the projections have applied `position` (read-your-writes)."""
    response = await api.client.get(
        "/partnerships", params={"wait_for_position": position}, headers=api.auth("viewer")
    )
    assert response.status_code == 200 and response.json()["position"] >= position


async def fetch(api: Api, url: str, role: str = "viewer", **params: Any) -> dict[str, Any]:
    response = await api.client.get(url, params=params or None, headers=api.auth(role))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    link = response.headers.get("link")
    assert link == (None if body["next"] is None else f'<{body["next"]}>; rel="next"')
    return body


def ids(body: dict[str, Any], key: str = "partnerships", field: str = "agreement_id") -> list[str]:
    return [item[field] for item in body[key]]


def cursor_in(url: str) -> str:
    (token,) = parse_qs(urlsplit(url).query)["cursor"]
    return token


async def test_a_walk_sees_every_item_once_as_of_its_first_page_while_appends_go_on(
    api: Api,
) -> None:
    for n in range(1, 7):
        head = await sign(api, f"p-{n}")
    await applied(api, head)

    first = await fetch(api, "/partnerships", limit=2)
    start = first["position"]
    assert ids(first) == ["agreement-p-1", "agreement-p-2"]

    await sign(api, "p-3a")  # new, and sorts into the pages still to come
    await sign(api, "p-0")  # new, sorts before
    await append(api, "p-4", note("changed after the walk began"))
    await applied(api, await append(api, "p-5", terminated()))
    second = await fetch(api, first["next"])
    assert ids(second) == ["agreement-p-3", "agreement-p-4"]
    assert second["position"] == start
    assert second["partnerships"][1]["note_count"] == 0  # as it was at the walk's position

    await applied(api, await sign(api, "p-9"))
    third = await fetch(api, second["next"])
    assert ids(third) == ["agreement-p-5", "agreement-p-6"]
    assert third["partnerships"][0]["status"] == "active"
    assert third["position"] == start
    assert third["next"] is None

    fresh = await fetch(api, "/partnerships", limit=1000)
    assert fresh["position"] > start
    assert len(ids(fresh)) == 9 == len(set(ids(fresh)))
    assert {"agreement-p-0", "agreement-p-3a", "agreement-p-9"} <= set(ids(fresh))


async def test_a_page_of_a_walk_keeps_its_etag_while_the_log_moves(api: Api) -> None:
    for n in range(1, 4):
        head = await sign(api, f"e-{n}")
    await applied(api, head)
    first = await fetch(api, "/partnerships", limit=1)
    page = await api.client.get(first["next"], headers=api.auth("viewer"))
    tag = page.headers["etag"]

    await applied(api, await append(api, "e-2", note("after the walk began")))
    polled = await api.client.get(
        first["next"], headers={**api.auth("viewer"), "If-None-Match": tag}
    )
    assert polled.status_code == 304
    restarted = await api.client.get(
        "/partnerships?limit=1", headers={**api.auth("viewer"), "If-None-Match": tag}
    )
    assert restarted.status_code == 200


async def test_filters_compose_with_a_walk(api: Api) -> None:
    els = await els_of(api.services.store.engine)
    for n in range(1, 5):
        await sign(api, f"a-{n}")
    await append(api, "a-2", terminated())
    await applied(
        api,
        await append(
            api,
            "a-1",
            event(
                "ResponsibilityAssigned",
                owner=FIT_TOKYO,
                assigned_by="FIT",
                assigned_on="2023-01-02",
            ),
        ),
    )

    first = await fetch(api, "/partnerships", status="active", limit=1)
    assert ids(first) == ["agreement-a-1"]
    await applied(api, await append(api, "a-3", terminated()))
    second = await fetch(api, first["next"])
    assert ids(second) == ["agreement-a-3"]
    assert second["partnerships"][0]["status"] == "active"
    third = await fetch(api, second["next"])
    assert ids(third) == ["agreement-a-4"] and third["next"] is None

    now_active = await fetch(api, "/partnerships", status="active", limit=1000)
    assert ids(now_active) == ["agreement-a-1", "agreement-a-4"]
    ended = await fetch(api, "/partnerships", status="terminated", limit=1)
    assert ids(ended) == ["agreement-a-2"]
    assert ids(await fetch(api, ended["next"])) == ["agreement-a-3"]
    owned = await fetch(api, "/partnerships", owner=els)
    assert ids(owned) == ["agreement-a-1"]
    assert owned["partnerships"][0]["owner"]["unit"] == "FIT Tokyo office"


async def test_the_past_composes_with_a_walk(api: Api) -> None:
    await sign(api, "b-1", occurred_at="2022-01-01T00:00:00Z")
    cut = await sign(api, "b-2", occurred_at="2022-06-01T00:00:00Z")
    await sign(api, "b-3", occurred_at="2023-06-01T00:00:00Z")
    await applied(api, await append(api, "b-2", terminated()))

    first = await fetch(api, "/partnerships", as_of_position=cut, limit=1)
    assert ids(first) == ["agreement-b-1"] and first["position"] == cut
    second = await fetch(api, first["next"])
    assert ids(second) == ["agreement-b-2"] and second["next"] is None
    assert second["partnerships"][0]["status"] == "active" and second["position"] == cut

    walked: list[str] = []
    url: str | None = "/partnerships?in_force_on=2022-12-31&limit=1"
    while url is not None:
        body = await fetch(api, url)
        walked += ids(body)
        url = body["next"]
    assert walked == ["agreement-b-1", "agreement-b-2"]


async def test_the_past_beyond_what_the_projections_applied_is_replayed(api: Api) -> None:
    await sign(api, "d-1")
    await applied(api, await sign(api, "d-2"))
    projections = api.services.projections
    assert projections is not None
    await projections.stop()
    head = await sign(api, "d-3")

    first = await fetch(api, "/partnerships", as_of_position=head, limit=2)
    assert ids(first) == ["agreement-d-1", "agreement-d-2"]
    last = await fetch(api, first["next"])
    assert ids(last) == ["agreement-d-3"] and last["position"] == head


async def test_every_list_walks_each_item_once(api: Api) -> None:
    await record_demo(api.services.store)
    head = await api.head()
    await applied(api, head)
    for url, key, field, role in (
        ("/owners", "owners", "owner_id", "viewer"),
        ("/delegations", "delegations", "delegation_id", "viewer"),
        ("/partnerships", "partnerships", "agreement_id", "viewer"),
        ("/admin/tokens", "tokens", "token_id", "admin"),
    ):
        everything = ids(await fetch(api, url, role, limit=1000), key, field)
        assert everything == sorted(everything) and len(everything) >= 1, url
        walked: list[str] = []
        next_url: str | None = f"{url}?limit=1"
        while next_url is not None:
            body = await fetch(api, next_url, role)
            walked += ids(body, key, field)
            next_url = body["next"]
        assert walked == everything, url


def assigned(unit: str) -> dict[str, Any]:
    return event(
        "ResponsibilityAssigned", owner={"unit": unit}, assigned_by="FIT", assigned_on="2023-01-02"
    )


async def test_a_walk_over_owners_sees_each_owner_once_while_appends_go_on(api: Api) -> None:
    for name, unit in (("o-1", "Unit A"), ("o-2", "Unit C"), ("o-3", "Unit E")):
        await sign(api, name)
        head = await append(api, name, assigned(unit))
    await applied(api, head)

    first = await fetch(api, "/owners", limit=1)
    assert ids(first, "owners", "owner_id") == ["unit-a"]
    await sign(api, "o-4")
    await append(api, "o-4", assigned("Unit B"))  # a new owner, sorting into the walk
    opened = event(
        "FollowUpOpened",
        follow_up_id="visit",
        title="Visit",
        owner={"unit": "Unit E"},
        due_on="2023-05-01",
    )
    await applied(api, await append(api, "o-3", opened))
    walked = ids(first, "owners", "owner_id")
    url: str | None = first["next"]
    while url is not None:
        body = await fetch(api, url)
        walked += ids(body, "owners", "owner_id")
        url = body["next"]
    assert len(walked) == len(set(walked))
    assert {"unit-a", "unit-c", "unit-e"} <= set(walked)
    assert walked == sorted(walked)


async def test_an_owner_walk_answers_every_page_as_of_its_first_while_appends_go_on(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, unit in (("o-1", "Unit A"), ("o-2", "Unit C"), ("o-3", "Unit D"), ("o-5", "Unit E")):
        await sign(api, name)
        head = await append(api, name, assigned(unit))
    await applied(api, head)

    first = await fetch(api, "/owners", limit=1)
    at = first["position"]
    assert ids(first, "owners", "owner_id") == ["unit-a"]
    # Between pages: a new owner sorts into the rest of the walk, Unit C loses its only
    # agreement to Unit F, and Unit E is given a follow-up.
    await sign(api, "o-4")
    await append(api, "o-4", assigned("Unit B"))
    await append(api, "o-2", assigned("Unit F"))
    opened = event(
        "FollowUpOpened",
        follow_up_id="visit",
        title="Visit",
        owner={"unit": "Unit E"},
        due_on="2023-05-01",
    )
    await applied(api, await append(api, "o-5", opened))
    now = ids(await fetch(api, "/owners"), "owners", "owner_id")
    assert now == ["unit-a", "unit-b", "unit-d", "unit-e", "unit-f"]

    walked = first["owners"]
    url: str | None = first["next"]
    while url is not None:
        body = await fetch(api, url)
        assert body["position"] == at
        walked += body["owners"]
        url = body["next"]
    # The owners as they were when the walk began, each once: not Unit B or F, still Unit C.
    assert [o["owner_id"] for o in walked] == ["unit-a", "unit-c", "unit-d", "unit-e"]
    by_id = {o["owner_id"]: o for o in walked}
    assert by_id["unit-c"]["agreement_count"] == 1
    assert by_id["unit-e"]["counts"]["open"] == 0  # the follow-up came after the walk's start
    assert (await fetch(api, "/owners", as_of_position=at))["owners"] == walked
    monkeypatch.setattr(reader, "MAX_REFOLDED", 0)  # the same page replayed from the log
    assert (await fetch(api, "/owners", as_of_position=at))["owners"] == walked


def opened(follow_up_id: str, due_on: str) -> dict[str, Any]:
    return event(
        "FollowUpOpened",
        follow_up_id=follow_up_id,
        title=f"Task {follow_up_id}",
        owner={"unit": "Unit A"},
        due_on=due_on,
    )


def rescheduled(follow_up_id: str, due_on: str) -> dict[str, Any]:
    return event("FollowUpRescheduled", follow_up_id=follow_up_id, due_on=due_on)


async def walk(api: Api, url: str | None, at: int) -> list[dict[str, Any]]:
    """Every follow-up from `url` on, checking that each page answers as of `at`."""
    walked: list[dict[str, Any]] = []
    while url is not None:
        body = await fetch(api, url)
        assert body["position"] == at
        walked += body["follow_ups"]
        url = body["next"]
    return walked


async def test_a_follow_up_walk_answers_every_page_as_of_its_first_while_appends_go_on(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between pages one follow-up already shown is moved later and one still to come is
    moved earlier (a walk read page by page would show the first twice and the second
    never), one is completed and new ones sort into the rest: the walk shows the list as it
    was at its first page, each follow-up once."""
    for name, due in (("w-1", ("a", "b")), ("w-2", ("c", "d")), ("w-3", ("e", "f"))):
        await sign(api, name)
        number = int(name[-1])
        head = await append(
            api, name, *(opened(f, f"2023-04-{number * 5 + i:02d}") for i, f in enumerate(due))
        )
    await applied(api, head)

    first = await fetch(api, "/follow-ups", limit=2)
    first_open = await fetch(api, "/follow-ups", limit=2, state="open")
    at = first["position"]
    assert [f["follow_up_id"] for f in first["follow_ups"]] == ["a", "b"]
    await append(api, "w-1", rescheduled("a", "2023-05-30"))
    await append(api, "w-3", rescheduled("f", "2023-03-01"))
    await append(
        api, "w-2", event("FollowUpCompleted", follow_up_id="d", completed_on="2023-02-01")
    )
    await append(api, "w-2", opened("g", "2023-04-12"))
    await sign(api, "w-4")
    await applied(api, await append(api, "w-4", opened("h", "2023-04-13")))
    now = await fetch(api, "/follow-ups", limit=1000)
    assert [f["follow_up_id"] for f in now["follow_ups"]] == list("fbcdghea")

    walked = first["follow_ups"] + await walk(api, first["next"], at)
    assert [f["follow_up_id"] for f in walked] == list("abcdef")
    by_id = {f["follow_up_id"]: f for f in walked}
    assert by_id["d"]["state"] == "open" and by_id["f"]["due_on"] == "2023-04-16"
    walked_open = first_open["follow_ups"] + await walk(api, first_open["next"], at)
    assert walked_open == walked
    assert (await fetch(api, "/follow-ups", as_of_position=at, limit=1000))["follow_ups"] == walked
    monkeypatch.setattr(reader, "MAX_REFOLDED", 0)  # the same pages replayed from the log
    assert await walk(api, first["next"], at) == walked[2:]


async def test_a_token_issued_during_a_walk_leaves_the_others_once_each(api: Api) -> None:
    before = ids(await fetch(api, "/admin/tokens", "admin"), "tokens", "token_id")
    assert len(before) == 4
    first = await fetch(api, "/admin/tokens", "admin", limit=3)
    made = await api.client.post(
        "/admin/tokens", json={"name": "mid-walk", "role": "viewer"}, headers=api.auth("admin")
    )
    assert made.status_code == 201
    rest = await fetch(api, first["next"], "admin")
    walked = ids(first, "tokens", "token_id") + ids(rest, "tokens", "token_id")
    assert len(walked) == len(set(walked))
    assert set(before) <= set(walked)


async def test_cursors_not_given_out_for_this_list_are_refused(api: Api) -> None:
    for n in range(1, 4):
        head = await sign(api, f"c-{n}")
    await applied(api, head)
    first = await fetch(api, "/partnerships", limit=1)
    token = cursor_in(first["next"])
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    admin = api.auth("admin")
    viewer = api.auth("viewer")
    for url, params, headers in (
        ("/partnerships", {"cursor": "not a cursor"}, viewer),
        ("/partnerships", {"cursor": "AAAA"}, viewer),
        ("/partnerships", {"cursor": token[:-3]}, viewer),
        ("/partnerships", {"cursor": flipped}, viewer),
        ("/partnerships", {"cursor": token, "status": "terminated"}, viewer),
        ("/partnerships", {"cursor": token, "as_of_position": "1"}, viewer),
        ("/delegations", {"cursor": token}, viewer),
        ("/owners", {"cursor": token}, viewer),
        ("/admin/tokens", {"cursor": token}, admin),
    ):
        response = await api.client.get(url, params=params, headers=headers)
        assert response.status_code == 422, (url, params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["path"] == "query.cursor", (url, params)
    assert await api.head() == head

    wider = await fetch(api, "/partnerships", cursor=token, limit=5)
    assert ids(wider) == ["agreement-c-2", "agreement-c-3"]


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "ten"])
async def test_limit_out_of_bounds_is_refused(api: Api, limit: str) -> None:
    for url, role in (
        ("/partnerships", "viewer"),
        ("/owners", "viewer"),
        ("/delegations", "viewer"),
        ("/admin/tokens", "admin"),
    ):
        response = await api.client.get(url, params={"limit": limit}, headers=api.auth(role))
        assert response.status_code == 422, (url, response.text)
        assert response.json()["errors"][0]["path"] == "query.limit"
        at_most = await api.client.get(url, params={"limit": 1000}, headers=api.auth(role))
        assert at_most.status_code == 200


async def test_the_last_page_has_no_next_link(api: Api) -> None:
    for n in range(1, 4):
        head = await sign(api, f"l-{n}")
    await applied(api, head)
    first = await api.client.get("/partnerships?limit=2", headers=api.auth("viewer"))
    assert first.headers["link"] == f'<{first.json()["next"]}>; rel="next"'
    assert first.json()["next"].startswith("/partnerships?limit=2&cursor=")
    last = await api.client.get(first.json()["next"], headers=api.auth("viewer"))
    assert "link" not in last.headers and last.json()["next"] is None
    exactly = await api.client.get("/partnerships?limit=3", headers=api.auth("viewer"))
    assert "link" not in exactly.headers and len(exactly.json()["partnerships"]) == 3
    default = await fetch(api, "/partnerships")
    assert len(default["partnerships"]) == 3 and default["next"] is None
