"""The follow-ups work list over HTTP, on both databases: sorted by due date across
agreements, each filter, paging with cursors, ETags, the past, bad input, and a rebuild that
gives the very rows the live runner wrote."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from projections.schema import LIVE
from tests._owners import els_of
from tests.conftest import TODAY, Api, signed

FIT_TOKYO = {"unit": "FIT Tokyo office", "person": {"name": "Els Verhulst"}}
SATO = {"unit": "JETRO Brussels", "person": {"name": "佐藤花子"}}


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {"type": kind, "occurred_at": "2023-01-10T09:00:00Z", "data": data}


def opened(follow_up_id: str, due_on: str, owner: dict[str, Any] = FIT_TOKYO) -> dict[str, Any]:
    return event(
        "FollowUpOpened",
        follow_up_id=follow_up_id,
        title=f"{follow_up_id} title",
        owner=owner,
        due_on=due_on,
    )


async def record(api: Api, name: str, *events: dict[str, Any]) -> int:
    response = await api.client.post(
        f"/streams/agreement-{name}/events",
        json={"events": list(events)},
        headers=api.auth("recorder"),
    )
    assert response.status_code == 201, response.text
    position: int = response.json()["to_position"]
    return position


async def work_list(api: Api, **params: Any) -> dict[str, Any]:
    response = await api.client.get("/follow-ups", params=params, headers=api.auth("viewer"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [item["follow_up_id"] for item in body["follow_ups"]]


async def register(api: Api) -> int:
    """Two agreements; TODAY is 2023-03-01."""
    await record(
        api,
        "alpha",
        signed(title="Alpha MoC"),
        opened("a-late", "2023-02-01"),
        opened("a-soon", "2023-03-05", SATO),
        opened("a-done", "2023-01-20"),
        event("FollowUpCompleted", follow_up_id="a-done", completed_on="2023-01-19"),
    )
    return await record(
        api,
        "beta",
        signed(title="Beta LoI"),
        opened("b-soon", "2023-03-05"),
        opened("b-later", "2023-06-01", SATO),
        opened("b-dropped", "2023-04-01"),
        event(
            "FollowUpCancelled",
            follow_up_id="b-dropped",
            cancelled_on="2023-02-10",
            reason="no longer needed",
        ),
    )


async def test_the_work_list_is_sorted_by_due_date_across_agreements(api: Api) -> None:
    els = await els_of(api.services.store.engine)
    head = await register(api)
    body = await work_list(api, wait_for_position=head)

    assert body["position"] == head
    assert body["next"] is None
    assert ids(body) == ["a-done", "a-late", "a-soon", "b-soon", "b-dropped", "b-later"]
    late = body["follow_ups"][1]
    assert late["agreement_id"] == "agreement-alpha"
    assert late["agreement_title"] == "Alpha MoC"
    assert late["owner"] == {"owner_id": els, **FIT_TOKYO}
    assert (late["due_on"], late["state"], late["overdue"]) == ("2023-02-01", "open", True)
    done = body["follow_ups"][0]
    assert (done["state"], done["closed_on"], done["overdue"]) == ("completed", "2023-01-19", False)
    dropped = body["follow_ups"][4]
    assert (dropped["closed_on"], dropped["reason"]) == ("2023-02-10", "no longer needed")


async def test_each_filter(api: Api) -> None:
    head = await register(api)
    everything = await work_list(api, wait_for_position=head)
    sato_id = everything["follow_ups"][2]["owner"]["owner_id"]
    assert everything["follow_ups"][2]["owner"]["person"]["name"] == "佐藤花子"

    assert ids(await work_list(api, state="completed")) == ["a-done"]
    assert ids(await work_list(api, state="cancelled")) == ["b-dropped"]
    assert ids(await work_list(api, state="open")) == ["a-late", "a-soon", "b-soon", "b-later"]
    assert ids(await work_list(api, owner=sato_id)) == ["a-soon", "b-later"]
    assert ids(await work_list(api, agreement="beta")) == ["b-soon", "b-dropped", "b-later"]
    assert ids(await work_list(api, agreement="agreement-alpha", state="open")) == [
        "a-late",
        "a-soon",
    ]
    assert ids(await work_list(api, overdue="true")) == ["a-late"]
    assert "a-late" not in ids(await work_list(api, overdue="false"))
    assert ids(await work_list(api, due_within_days=4)) == ["a-soon", "b-soon"]
    assert ids(await work_list(api, due_within_days=3)) == []
    assert ids(await work_list(api, due_within_days=92)) == ["a-soon", "b-soon", "b-later"]
    assert TODAY.isoformat() == "2023-03-01"


async def test_a_hand_over_moves_the_outgoing_owners_open_follow_ups_only(
    api: Api,
) -> None:
    els = await els_of(api.services.store.engine)
    await register(api)
    head = await record(
        api,
        "alpha",
        event(
            "ResponsibilityAssigned",
            owner=FIT_TOKYO,
            assigned_by="Director",
            assigned_on="2023-01-05",
        ),
        event(
            "ResponsibilityTransferred",
            from_owner=FIT_TOKYO,
            to_owner=SATO,
            transferred_on="2023-02-20",
        ),
        event("FollowUpCompleted", follow_up_id="a-late", completed_on="2023-02-21"),
    )
    body = await work_list(api, wait_for_position=head, owner=els)
    # a-late was open at the hand-over: it went to the new owner, who then completed it; what
    # Els had closed before, and her follow-ups on the other agreement, stay hers.
    assert ids(body) == ["a-done", "b-soon", "b-dropped"]
    (moved,) = [
        f
        for f in (await work_list(api, agreement="alpha"))["follow_ups"]
        if f["follow_up_id"] == "a-late"
    ]
    assert moved["owner"]["person"]["name"] == "佐藤花子"
    assert moved["state"] == "completed"
    assert ids(await work_list(api, overdue="true")) == []


async def test_pages_follow_the_order_and_the_etag_answers_304(api: Api) -> None:
    head = await register(api)
    await work_list(api, wait_for_position=head)
    seen: list[str] = []
    url: str | None = "/follow-ups?limit=2&state=open"
    while url is not None:
        response = await api.client.get(url, headers=api.auth("viewer"))
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["follow_ups"]) <= 2
        seen += ids(body)
        url = body["next"]
    assert seen == ["a-late", "a-soon", "b-soon", "b-later"]

    first = await api.client.get("/follow-ups", headers=api.auth("viewer"))
    again = await api.client.get(
        "/follow-ups", headers={**api.auth("viewer"), "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304


async def test_a_cursor_is_bound_to_its_filters(api: Api) -> None:
    head = await register(api)
    body = await work_list(api, wait_for_position=head, limit=1)
    cursor = body["next"].split("cursor=")[1]
    refused = await api.client.get(
        "/follow-ups",
        params={"limit": 1, "state": "open", "cursor": cursor},
        headers=api.auth("viewer"),
    )
    assert refused.status_code == 422
    assert "query.cursor" in refused.text


async def test_as_of_a_position_shows_the_list_as_it_was(api: Api) -> None:
    before = await register(api)
    head = await record(
        api, "alpha", event("FollowUpCompleted", follow_up_id="a-late", completed_on="2023-02-21")
    )
    now = await work_list(api, wait_for_position=head, state="open")
    assert "a-late" not in ids(now)
    past = await work_list(api, as_of_position=before, state="open", limit=1)
    assert past["position"] == before
    assert ids(past) == ["a-late"]
    response = await api.client.get(past["next"], headers=api.auth("viewer"))
    assert ids(response.json()) == ["a-soon"]


async def test_bad_filters_are_refused_naming_the_parameter(api: Api) -> None:
    for params, name in [
        ({"state": "late"}, "state"),
        ({"due_within_days": "-1"}, "due_within_days"),
        ({"due_within_days": "100000"}, "due_within_days"),
        ({"overdue": "perhaps"}, "overdue"),
        ({"colour": "red"}, "colour"),
    ]:
        response = await api.client.get("/follow-ups", params=params, headers=api.auth("viewer"))
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
        assert name in response.text


async def test_a_rebuild_writes_the_rows_the_runner_wrote(api: Api) -> None:
    head = await register(api)
    await work_list(api, wait_for_position=head)
    table = LIVE.follow_ups

    async def rows() -> list[Any]:
        async with api.services.store.engine.connect() as connection:
            query = select(table).order_by(table.c.agreement_id, table.c.follow_up_id)
            return list((await connection.execute(query)).all())

    live = await rows()
    assert len(live) == 6
    assert api.services.projections is not None
    await api.services.projections.rebuild()
    assert await rows() == live
