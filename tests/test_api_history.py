"""GET /partnerships/{id}/history: each change with its actor, both times and the state after."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, signed


async def _record(api: Api, stream_id: str, events: list[dict[str, Any]], role: str) -> None:
    response = await api.client.post(
        f"/streams/{stream_id}/events",
        json={"events": events, "correlation_id": "mission-2022"},
        headers={**api.auth(role), "User-Agent": "desk-tool/1.0"},
    )
    assert response.status_code == 201, response.text


async def test_history_shows_each_change_who_recorded_it_and_the_state_after(api: Api) -> None:
    await _record(api, "agreement-imec-rapidus-2022", [signed()], "recorder")
    endorsed = {
        "type": "AgreementEndorsed",
        "occurred_at": "2022-12-06T12:00:00Z",
        "data": {
            "endorser": {"name": "Jan Jambon", "title": "Minister-President"},
            "on_behalf_of": "Government of Flanders",
            "endorsed_on": "2022-12-06",
        },
    }
    await _record(api, "agreement-imec-rapidus-2022", [endorsed], "admin")

    response = await api.client.get(
        "/partnerships/imec-rapidus-2022/history", headers=api.auth("auditor")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["agreement_id"] == "agreement-imec-rapidus-2022"
    first, second = body["changes"]
    assert [first["type"], second["type"]] == ["AgreementSigned", "AgreementEndorsed"]
    assert first["metadata"]["actor"] == "test recorder"
    assert first["metadata"]["user_agent"] == "desk-tool/1.0"
    assert first["metadata"]["correlation_id"] == "mission-2022"
    assert second["metadata"]["actor"] != first["metadata"]["actor"]
    assert second["occurred_at"] == "2022-12-06T12:00:00.000000Z"
    assert first["recorded_at"] <= second["recorded_at"]
    assert first["state"]["endorsements"] == []
    assert second["state"]["endorsements"][0]["endorser"]["name"] == "Jan Jambon"
    assert body["position"] == second["position"] == await api.head()


async def test_history_is_for_auditors_and_unknown_agreements_are_404(api: Api) -> None:
    await _record(api, "agreement-a", [signed()], "recorder")
    refused = await api.client.get("/partnerships/agreement-a/history", headers=api.auth("viewer"))
    assert refused.status_code == 403
    missing = await api.client.get("/partnerships/nothing/history", headers=api.auth("auditor"))
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def _endorsed(number: int) -> dict[str, Any]:
    return {
        "type": "AgreementEndorsed",
        "occurred_at": "2022-12-07T12:00:00Z",
        "data": {
            "endorser": {"name": f"Endorser {number}"},
            "on_behalf_of": "Government of Flanders",
            "endorsed_on": "2022-12-07",
        },
    }


async def test_history_is_paged_and_each_page_starts_from_the_state_before_it(api: Api) -> None:
    await _record(api, "agreement-long", [signed(), *(_endorsed(n) for n in range(6))], "recorder")
    auditor = api.auth("auditor")

    first = (await api.client.get("/partnerships/long/history?limit=3", headers=auditor)).json()
    assert [c["version"] for c in first["changes"]] == [1, 2, 3]
    assert first["next_after_version"] == 3
    assert first["next"] == "/partnerships/long/history?after_version=3&limit=3"

    second = (await api.client.get(first["next"], headers=auditor)).json()
    assert [c["version"] for c in second["changes"]] == [4, 5, 6]
    # The state after version 4 holds the three endorsements recorded before this page.
    assert len(second["changes"][0]["state"]["endorsements"]) == 3

    last = (await api.client.get(second["next"], headers=auditor)).json()
    assert [c["version"] for c in last["changes"]] == [7]
    assert last["next"] is None and last["next_after_version"] is None
    assert last["position"] == last["changes"][0]["position"] == await api.head()
    assert len(last["changes"][0]["state"]["endorsements"]) == 6


async def test_history_pages_hold_100_changes_by_default(api: Api) -> None:
    await _record(api, "agreement-long", [signed(), *(_endorsed(n) for n in range(100))], "admin")
    page = await api.client.get("/partnerships/long/history", headers=api.auth("auditor"))
    body = page.json()
    assert len(body["changes"]) == 100
    assert body["next_after_version"] == 100
