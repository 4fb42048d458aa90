"""EventCorrected over HTTP, on both databases: a correction is recorded as one, a bad one is a
422 naming its rule and changes nothing, and the history shows the original and the correction."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, signed
from tests.test_web import sign_in

SIGNING = "0b9e5a52-4c3e-4a57-9d0b-2f1c6a7e8d01"
ASSIGNMENT = "6f0c4b1e-1d2a-4f7b-8e3c-5a9d0c2b7e42"
OTHER = "a3d1f2e4-5b6c-4d7e-8f90-1a2b3c4d5e6f"
OFFICE = {"unit": "FIT Tokyo office"}
ELS = {"unit": "FIT Tokyo office", "person": {"name": "Els Verhulst"}}


def corrected(target: str, changes: dict[str, Any], reason: str = "typo") -> dict[str, Any]:
    return {
        "type": "EventCorrected",
        "data": {"corrects": target, "changes": changes, "reason": reason},
    }


async def _post(api: Api, stream: str, *events: dict[str, Any]) -> Any:
    return await api.client.post(
        f"/streams/{stream}/events", json={"events": list(events)}, headers=api.auth("recorder")
    )


async def _refused(api: Api, stream: str, event: dict[str, Any]) -> dict[str, Any]:
    head = await api.head()
    response = await _post(api, stream, event)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await api.head() == head
    body: dict[str, Any] = response.json()
    return body


async def _signed(api: Api) -> None:
    assigned = {
        "type": "ResponsibilityAssigned",
        "event_id": ASSIGNMENT,
        "data": {
            "owner": OFFICE,
            "assigned_by": "Government of Flanders",
            "assigned_on": "2022-12-06",
        },
    }
    assert (await _post(api, "agreement-imec", signed(SIGNING), assigned)).status_code == 201
    other = signed(OTHER, title="another MoC")
    assert (await _post(api, "agreement-other", other)).status_code == 201


async def test_bad_corrections_are_refused_by_rule_and_change_nothing(api: Api) -> None:
    await _signed(api)
    stream = "agreement-imec"
    elsewhere = await _refused(api, stream, corrected(OTHER, {"title": "x"}))
    assert elsewhere["rule"] == "correction_target_unknown"
    missing = await _refused(api, stream, corrected("no-such-event", {"title": "x"}))
    assert missing["rule"] == "correction_target_unknown"
    invalid = await _refused(api, stream, corrected(SIGNING, {"signed_on": "6 December"}))
    assert invalid["rule"] == "correction_invalid_for_type"
    assert "$.changes.signed_on" in invalid["detail"]
    same = await _refused(api, stream, corrected(SIGNING, {"title": "imec-Rapidus MoC"}))
    assert same["rule"] == "correction_changes_nothing"
    late = await _refused(api, stream, corrected(SIGNING, {"signed_on": "2022-12-07"}))
    assert late["rule"] == "correction_breaks_rule"
    assert "assigned_before_signing" in late["detail"]


async def test_a_corrected_owner_is_the_one_a_hand_over_names(api: Api) -> None:
    await _signed(api)
    assert (
        await _post(api, "agreement-imec", corrected(ASSIGNMENT, {"owner": ELS}))
    ).status_code == 201

    def handed_over(from_owner: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "ResponsibilityTransferred",
            "data": {
                "from_owner": from_owner,
                "to_owner": {"unit": "FIT Brussels"},
                "transferred_on": "2022-12-08",
            },
        }

    stale = await _refused(api, "agreement-imec", handed_over(OFFICE))
    assert stale["rule"] == "transfer_from_not_current_owner"
    assert (await _post(api, "agreement-imec", handed_over(ELS))).status_code == 201


async def test_history_names_the_corrected_event_and_marks_it(api: Api) -> None:
    await _signed(api)
    fixed = corrected(SIGNING, {"title": "MoC on advanced semiconductors"}, "the release's title")
    response = await _post(api, "agreement-imec", fixed)
    assert response.status_code == 201, response.text
    position = response.json()["to_position"]

    history = await api.client.get("/partnerships/imec/history", headers=api.auth("auditor"))
    assert history.status_code == 200, history.text
    signing, _, correction = history.json()["changes"]
    assert signing["data"]["title"] == "imec-Rapidus MoC"  # the original, as recorded
    assert signing["corrected_by"] == [position]
    assert correction["corrects"] == {
        "event_id": SIGNING,
        "type": "AgreementSigned",
        "version": 1,
        "position": signing["position"],
    }
    assert correction["data"]["changes"] == {"title": "MoC on advanced semiconductors"}
    assert correction["data"]["reason"] == "the release's title"
    assert correction["metadata"]["actor"] == "test recorder"


async def test_the_web_timeline_shows_the_original_and_its_correction(api: Api) -> None:
    await _signed(api)
    fixed = corrected(SIGNING, {"title": "MoC on advanced semiconductors"}, "the release's title")
    position = (await _post(api, "agreement-imec", fixed)).json()["to_position"]
    await sign_in(api, "auditor")
    page = await api.client.get(f"/web/partnerships/imec?after={position}")
    assert page.status_code == 200, page.text
    correction_version = 3
    assert '<strong class="badge">corrected</strong>' in page.text
    assert f"Corrected by version {correction_version}" in page.text
    assert f'Corrects <a href="#event-{SIGNING}">version 1</a>' in page.text
    assert "title → MoC on advanced semiconductors — the release" in page.text
