"""The read side over HTTP: the demo's partnerships, owners and delegations, read-your-writes,
history with as_of_position, and overdue follow-ups judged against the server's today."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from service.cli import record_demo
from service.settings import Settings
from tests._owners import els_of
from tests.conftest import TODAY, Api, signed

WAIT = 0.5

IMEC = "agreement-imec-rapidus-2022"
FIT_TOKYO = {"unit": "FIT Tokyo office", "person": {"name": "Els Verhulst"}}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, max_wait_seconds=WAIT)


@pytest.fixture
async def demo(api: Api) -> Api:
    await record_demo(api.services.store)
    return api


async def get(api: Api, url: str, role: str = "viewer", **params: Any) -> dict[str, Any]:
    response = await api.client.get(url, params=params, headers=api.auth(role))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def record(api: Api, stream_id: str, *events: dict[str, Any]) -> int:
    response = await api.client.post(
        f"/streams/{stream_id}/events", json={"events": list(events)}, headers=api.auth("recorder")
    )
    assert response.status_code == 201, response.text
    position: int = response.json()["to_position"]
    return position


def follow_up(kind: str, **data: Any) -> dict[str, Any]:
    return {"type": kind, "occurred_at": "2023-01-10T09:00:00Z", "data": data}


async def test_the_demo_partnerships(demo: Api) -> None:
    head = await demo.head()
    body = await get(demo, "/partnerships", wait_for_position=head)

    assert body["position"] == head
    by_id = {p["agreement_id"]: p for p in body["partnerships"]}
    assert set(by_id) == {
        "agreement-fit-jetro-2022",
        "agreement-settlemint-fujitsu-2022",
        IMEC,
    }
    assert by_id[IMEC]["parties"] == ["imec", "Rapidus"]
    assert by_id[IMEC]["owner"]["person"]["name"] == "Els Verhulst"
    assert body["next"] is None

    fit = (await get(demo, "/partnerships/agreement-fit-jetro-2022"))["partnership"]
    assert [p["signatory"]["name"] for p in fit["parties"]] == ["Joy Donné", "Ichiro Soné"]
    assert fit["signed_on"] == "2022-12-05"
    assert [w["person"]["name"] for w in fit["witnesses"]] == ["Jan Jambon"]
    imec = (await get(demo, f"/partnerships/{IMEC}"))["partnership"]
    assert [(e["endorser"]["name"], e["on_behalf_of"]) for e in imec["endorsements"]] == [
        ("Jan Jambon", "Government of Flanders"),
        ("Yasutoshi Nishimura", "METI"),
    ]
    assert imec["owner"]["unit"] == "FIT Tokyo office"
    assert imec["owner"]["person"]["name"] == "Els Verhulst"


async def test_one_partnership_and_a_missing_one(demo: Api) -> None:
    one = await get(demo, f"/partnerships/{IMEC}", wait_for_position=await demo.head())
    assert one["partnership"]["agreement_id"] == IMEC
    assert one["position"] == await demo.head()
    missing = await demo.client.get("/partnerships/agreement-nope", headers=demo.auth("viewer"))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_owners_and_delegations_of_the_demo(demo: Api) -> None:
    els = await els_of(demo.services.store.engine)
    head = await demo.head()
    owners = await get(demo, "/owners", wait_for_position=head)
    listed = next(o for o in owners["owners"] if o["owner_id"] == els)
    assert listed["agreement_count"] == 1
    document = (await get(demo, f"/owners/{els}"))["owner"]
    assert [a["agreement_id"] for a in document["agreements"]] == [IMEC]

    delegations = await get(demo, "/delegations", wait_for_position=head)
    (mission,) = delegations["delegations"]
    assert mission["member_count"] == 258
    assert mission["destinations"] == ["Tokyo", "Nagoya", "Osaka"]
    one = await get(demo, "/delegations/delegation-bem-japan-2022")
    assert one["delegation"]["name"] == mission["name"]


async def test_a_follow_up_opened_then_completed_shows_up_at_once(demo: Api) -> None:
    els = await els_of(demo.services.store.engine)
    opened_at = await record(
        demo,
        IMEC,
        follow_up(
            "FollowUpOpened",
            follow_up_id="workshop-2023",
            title="Joint semiconductor workshop",
            owner=FIT_TOKYO,
            due_on="2023-02-01",
        ),
        follow_up(
            "FollowUpOpened",
            follow_up_id="visit-2023",
            title="Rapidus visit to imec",
            owner=FIT_TOKYO,
            due_on="2023-06-30",
        ),
    )

    owner = (await get(demo, f"/owners/{els}", wait_for_position=opened_at))["owner"]
    assert owner["counts"] == {"open": 2, "overdue": 1, "completed": 0, "cancelled": 0}
    assert [f["follow_up_id"] for f in owner["overdue"]] == ["workshop-2023"]
    assert owner["today"] == TODAY.isoformat()

    completed_at = await record(
        demo,
        IMEC,
        follow_up("FollowUpCompleted", follow_up_id="workshop-2023", completed_on="2023-02-15"),
    )
    partnership = await get(demo, f"/partnerships/{IMEC}", wait_for_position=completed_at)
    states = {f["follow_up_id"]: f["state"] for f in partnership["partnership"]["follow_ups"]}
    assert states == {"workshop-2023": "completed", "visit-2023": "open"}
    owner = (await get(demo, f"/owners/{els}", wait_for_position=completed_at))["owner"]
    assert owner["counts"] == {"open": 1, "overdue": 0, "completed": 1, "cancelled": 0}

    before = await get(demo, f"/owners/{els}", as_of_position=opened_at)
    assert before["position"] == opened_at
    assert before["owner"]["counts"]["completed"] == 0


async def test_history_as_of_a_position(demo: Api) -> None:
    events = await demo.client.get(
        "/events", params={"type": "AgreementEndorsed"}, headers=demo.auth("auditor")
    )
    first_endorsement = next(
        e["position"] for e in events.json()["events"] if e["stream_id"] == IMEC
    )
    then = await get(demo, f"/partnerships/{IMEC}", as_of_position=first_endorsement)
    assert then["position"] == first_endorsement
    assert [e["endorser"]["name"] for e in then["partnership"]["endorsements"]] == ["Jan Jambon"]
    assert then["partnership"]["owner"] is None


async def test_filters_on_partnerships(demo: Api) -> None:
    els = await els_of(demo.services.store.engine)
    head = await demo.head()
    semis = await get(demo, "/partnerships", sector="semiconductors", wait_for_position=head)
    assert [p["agreement_id"] for p in semis["partnerships"]] == [IMEC]
    owned = await get(demo, "/partnerships", owner=els)
    assert [p["agreement_id"] for p in owned["partnerships"]] == [IMEC]
    ended = await get(demo, "/partnerships", status="terminated")
    assert ended["partnerships"] == []
    bad = await demo.client.get(
        "/partnerships", params={"status": "asleep"}, headers=demo.auth("viewer")
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["path"] == "query.status"


@pytest.mark.serial
async def test_a_wait_past_the_head_answers_at_once_with_what_it_has(demo: Api) -> None:
    head = await demo.head()
    await get(demo, "/delegations", wait_for_position=head)
    started = time.monotonic()
    body = await get(demo, "/delegations", wait_for_position=head + 1000)
    assert body["position"] == head
    assert time.monotonic() - started < WAIT / 2


@pytest.mark.serial
async def test_a_wait_that_runs_out_answers_with_the_position_it_reflects(demo: Api) -> None:
    head = await demo.head()
    await get(demo, "/delegations", wait_for_position=head)
    projections = demo.services.projections
    assert projections is not None
    await projections.stop()  # the runner is stuck, as far as readers can tell
    later = await record(demo, IMEC, follow_up("NoteAttached", text="while nobody projects"))

    started = time.monotonic()
    body = await get(demo, f"/partnerships/{IMEC}", wait_for_position=later)

    assert time.monotonic() - started >= WAIT
    assert body["position"] == head


async def test_a_delegation_lists_the_agreements_recorded_under_it(demo: Api) -> None:
    head = await demo.head()
    url = "/delegations/delegation-bem-japan-2022"
    first = await demo.client.get(
        url, params={"wait_for_position": head}, headers=demo.auth("viewer")
    )
    assert first.status_code == 200, first.text
    listed = first.json()["delegation"]["agreements"]
    assert [a["agreement_id"] for a in listed] == [
        "agreement-fit-jetro-2022",
        "agreement-imec-rapidus-2022",
        "agreement-settlemint-fujitsu-2022",
    ]
    assert all(a["title"] and len(a["parties"]) >= 2 for a in listed)
    unchanged = {**demo.auth("viewer"), "If-None-Match": first.headers["etag"]}
    assert (await demo.client.get(url, headers=unchanged)).status_code == 304

    late = await record(
        demo,
        "agreement-late",
        signed(title="Signed during the mission", delegation_id="delegation-bem-japan-2022"),
    )
    await record(demo, "agreement-elsewhere", signed(title="Not under a delegation"))
    now = await demo.client.get(url, params={"wait_for_position": late}, headers=unchanged)
    assert now.status_code == 200
    assert [a["agreement_id"] for a in now.json()["delegation"]["agreements"]] == sorted(
        [*(a["agreement_id"] for a in listed), "agreement-late"]
    )
    before = await get(demo, url, as_of_position=head)
    assert before["delegation"]["agreements"] == listed
