"""An agreement that starts as an announcement, over HTTP on both databases: `announced`
until signed, endorsable, and the refusals named by their rules."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, signed
from tests.test_web import sign_in

STREAM = "agreement-settlemint-fujitsu"
ANNOUNCED = {
    "type": "AgreementAnnounced",
    "occurred_at": "2022-12-04T09:00:00Z",
    "data": {
        "kind": "partnership",
        "title": "SettleMint and Fujitsu partnership",
        "parties": [{"organisation": "SettleMint"}, {"organisation": "Fujitsu"}],
        "announced_on": "2022-12-04",
        "sectors": ["blockchain"],
    },
}
ENDORSED = {
    "type": "AgreementEndorsed",
    "data": {
        "endorser": {"name": "Jan Jambon"},
        "on_behalf_of": "Government of Flanders",
        "endorsed_on": "2022-12-05",
    },
}
WITNESSED = {
    "type": "AgreementWitnessed",
    "data": {"witness": {"name": "Jan Jambon"}, "witnessed_on": "2022-12-05"},
}


async def _post(api: Api, *events: dict[str, Any]) -> Any:
    return await api.client.post(
        f"/streams/{STREAM}/events", json={"events": list(events)}, headers=api.auth("recorder")
    )


async def _document(api: Api, position: int) -> dict[str, Any]:
    response = await api.client.get(
        f"/partnerships/{STREAM}",
        params={"wait_for_position": position},
        headers=api.auth("viewer"),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _refused(api: Api, event: dict[str, Any]) -> str:
    head = await api.head()
    response = await _post(api, event)
    assert response.status_code == 422, response.text
    assert await api.head() == head
    rule: str = response.json()["rule"]
    return rule


async def test_an_announced_agreement_is_announced_until_signed(api: Api) -> None:
    recorded = await _post(api, ANNOUNCED, ENDORSED)
    assert recorded.status_code == 201, recorded.text
    document = await _document(api, recorded.json()["to_position"])
    partnership = document["partnership"]
    assert partnership["status"] == "announced"
    assert partnership["signed_on"] is None
    assert partnership["announced_on"] == "2022-12-04"
    assert partnership["endorsements"][0]["endorser"]["name"] == "Jan Jambon"

    assert await _refused(api, WITNESSED) == "not_yet_signed"
    assert await _refused(api, ANNOUNCED) == "already_announced"

    signing = signed(
        title="SettleMint and Fujitsu partnership",
        kind="partnership",
        parties=[{"organisation": "SettleMint"}, {"organisation": "Fujitsu"}],
        signed_on="2022-12-20",
    )
    after = await _post(api, signing)
    assert after.status_code == 201, after.text
    partnership = await _document(api, after.json()["to_position"])
    partnership = partnership["partnership"]
    assert partnership["status"] == "active"
    assert partnership["signed_on"] == "2022-12-20"
    assert partnership["announced_on"] == "2022-12-04"
    assert len(partnership["endorsements"]) == 1
    assert await _refused(api, ANNOUNCED) == "announcement_after_signing"

    before = await api.client.get(
        f"/partnerships/{STREAM}",
        params={"as_of_position": recorded.json()["to_position"]},
        headers=api.auth("viewer"),
    )
    assert before.status_code == 200, before.text
    assert (before.json()["partnership"]["status"], before.json()["partnership"]["signed_on"]) == (
        "announced",
        None,
    )


async def test_an_announced_agreement_is_listed_by_its_announcement(api: Api) -> None:
    recorded = await _post(api, ANNOUNCED)
    assert recorded.status_code == 201, recorded.text
    listed = await api.client.get(
        "/partnerships",
        params={"wait_for_position": recorded.json()["to_position"]},
        headers=api.auth("viewer"),
    )
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["partnerships"]
    assert (item["status"], item["signed_on"], item["announced_on"]) == (
        "announced",
        None,
        "2022-12-04",
    )
    searched = await api.client.get(
        "/partnerships", params={"signed_from": "2022-01-01"}, headers=api.auth("viewer")
    )
    assert searched.status_code == 200, searched.text
    assert searched.json()["partnerships"] == []


async def test_a_signing_sectors_replace_the_announcements_in_the_sector_filter(
    api: Api,
) -> None:
    """The list filtered by sector finds a signed agreement by the signing's sectors, as a
    rebuild does, not by those it was announced with."""
    announced = await _post(api, ANNOUNCED)
    assert announced.status_code == 201, announced.text
    await _document(api, announced.json()["to_position"])  # folded before the signing
    signing = signed(
        title="SettleMint and Fujitsu partnership",
        kind="partnership",
        parties=[{"organisation": "SettleMint"}, {"organisation": "Fujitsu"}],
        signed_on="2022-12-20",
        sectors=["digital identity"],
    )
    after = await _post(api, signing)
    assert after.status_code == 201, after.text

    async def ids(sector: str) -> list[str]:
        listed = await api.client.get(
            "/partnerships",
            params={"sector": sector, "wait_for_position": after.json()["to_position"]},
            headers=api.auth("viewer"),
        )
        assert listed.status_code == 200, listed.text
        return [p["agreement_id"] for p in listed.json()["partnerships"]]

    assert await ids("digital identity") == [STREAM]
    assert await ids("blockchain") == []


async def test_what_a_source_does_not_say_is_left_out(api: Api) -> None:
    unnamed = {"type": "AgreementEndorsed", "data": {"endorsed_on": "2022-12-05"}}
    recorded = await _post(api, ANNOUNCED, unnamed)
    assert recorded.status_code == 201, recorded.text
    partnership = (await _document(api, recorded.json()["to_position"]))["partnership"]
    (endorsement,) = partnership["endorsements"]
    assert endorsement == {"endorser": None, "on_behalf_of": None, "endorsed_on": "2022-12-05"}

    mission = {
        "type": "DelegationFormed",
        "data": {
            "name": "Belgian Economic Mission (BEM) to Japan",
            "leader": {"name": "Jan Jambon", "title": "Minister-President"},
            "member_count": 258,
            "starts_on": "2022-12-05",
            "ends_on": "2022-12-09",
            "destinations": ["Tokyo", "Nagoya", "Osaka"],
            "country": "Japan",
        },
    }
    formed = await api.client.post(
        "/streams/delegation-bem/events", json={"events": [mission]}, headers=api.auth("recorder")
    )
    assert formed.status_code == 201, formed.text
    delegation = await api.client.get(
        "/delegations/delegation-bem",
        params={"wait_for_position": formed.json()["to_position"]},
        headers=api.auth("viewer"),
    )
    assert delegation.status_code == 200, delegation.text
    assert delegation.json()["delegation"]["organiser"] is None


async def test_pages_show_an_announced_agreement_and_its_unnamed_endorser(api: Api) -> None:
    unnamed = {"type": "AgreementEndorsed", "data": {"endorsed_on": "2022-12-05"}}
    recorded = await _post(api, ANNOUNCED, unnamed)
    position = recorded.json()["to_position"]
    await sign_in(api, "viewer")
    page = await api.client.get(f"/web/partnerships/settlemint-fujitsu?after={position}")
    assert page.status_code == 200, page.text
    assert "announced 2022-12-04, not signed yet" in page.text
    assert "endorser not named" in page.text
    for path in ("/web/partnerships", "/"):
        listed = await api.client.get(path)
        assert listed.status_code == 200, listed.text
    assert "announced 2022-12-04" in (await api.client.get("/web/partnerships")).text
    as_of = await api.client.get(
        "/web/partnerships/settlemint-fujitsu/as-of", params={"in_force_on": "2022-12-05"}
    )
    assert as_of.status_code == 200, as_of.text
    assert "announced 2022-12-04" in as_of.text
