"""People over HTTP: the list, the subject-access report, and an erasure, with who may."""

from __future__ import annotations

import unicodedata
from typing import Any

from tests.conftest import Api
from tests.test_erasure import ERASED_NAME, OTHER_NAME, id_of, record_history


async def _people(api: Api, role: str = "viewer", **params: Any) -> dict[str, Any]:
    response = await api.client.get("/people", params=params, headers=api.auth(role))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_people_are_listed_by_id_without_their_names(api: Api) -> None:
    await record_history(api.services.store)
    helene = await id_of(api.services.store, ERASED_NAME)
    other = await id_of(api.services.store, OTHER_NAME)
    body = await _people(api)
    assert [p["person_id"] for p in body["people"]] == sorted([helene, other])
    listed = {p["person_id"]: p for p in body["people"]}
    assert listed[helene] == {
        "person_id": helene,
        "streams": ["agreement-a", "agreement-b"],
        "values": 5,
        "erased": False,
    }
    first = await _people(api, limit=1)
    assert len(first["people"]) == 1 and first["next"]
    second = await api.client.get(first["next"], headers=api.auth("viewer"))
    assert [p["person_id"] for p in second.json()["people"]] == sorted([helene, other])[1:]


async def test_a_person_is_found_by_their_name_as_written_in_any_form_of_it(api: Api) -> None:
    await record_history(api.services.store)
    helene = await id_of(api.services.store, ERASED_NAME)
    found = await _people(api, name=ERASED_NAME)
    assert [p["person_id"] for p in found["people"]] == [helene]
    assert found["next"] is None
    # The same name typed decomposed (e + combining accent) is the same person (NFC).
    decomposed = unicodedata.normalize("NFD", ERASED_NAME)
    assert decomposed != ERASED_NAME
    assert [p["person_id"] for p in (await _people(api, name=decomposed))["people"]] == [helene]
    assert (await _people(api, name="Nobody Named This"))["people"] == []
    assert (await _people(api, name=ERASED_NAME.upper()))["people"] == []  # case counts
    too_long = await api.client.get(
        "/people", params={"name": "x" * 10_000}, headers=api.auth("viewer")
    )
    assert too_long.status_code == 422
    assert "name" in too_long.text


async def test_the_subject_access_report_is_for_auditors_and_admins(api: Api) -> None:
    await record_history(api.services.store)
    helene = await id_of(api.services.store, ERASED_NAME)
    for role in ("recorder", "viewer"):
        refused = await api.client.get(f"/people/{helene}", headers=api.auth(role))
        assert refused.status_code == 403
    response = await api.client.get(f"/people/{helene}", headers=api.auth("auditor"))
    assert response.status_code == 200
    report = response.json()
    assert report["erased"] is False and report["erasure"] is None
    first = report["mentions"][0]["position"]  # after the tokens the app recorded
    assert [(m["position"] - first, m["path"], m["value"]) for m in report["mentions"]] == [
        (0, "/parties/0/signatory/name", ERASED_NAME),
        (0, "/parties/0/signatory/organisation", "Ministry of the Sea"),
        (0, "/parties/0/signatory/title", "Counsellor for Fisheries"),
        (1, "/witness/name", ERASED_NAME),
        (4, "/owner/person/name", ERASED_NAME),
    ]
    assert {m["recorded_by"] for m in report["mentions"]} == {"clerk"}
    unknown = await api.client.get(f"/people/{'0' * 32}", headers=api.auth("auditor"))
    assert unknown.status_code == 404
    malformed = await api.client.get("/people/not-an-id", headers=api.auth("auditor"))
    assert malformed.status_code in (404, 422)


async def test_an_admin_erases_a_person_and_the_log_still_verifies(api: Api) -> None:
    store = api.services.store
    await record_history(store)
    helene = await id_of(store, ERASED_NAME)
    body = {"legal_basis": "GDPR Art. 17(1)(a)", "reason": "the person asked"}
    for role in ("recorder", "viewer", "auditor"):
        refused = await api.client.post(
            f"/people/{helene}/erasure", json=body, headers=api.auth(role)
        )
        assert refused.status_code == 403
    head = await api.head()
    bad = await api.client.post(
        f"/people/{helene}/erasure", json={"legal_basis": ""}, headers=api.auth("admin")
    )
    assert bad.status_code == 422 and await api.head() == head

    response = await api.client.post(
        f"/people/{helene}/erasure", json=body, headers=api.auth("admin")
    )
    assert response.status_code == 201, response.text
    done = response.json()
    assert done["position"] == head + 1 and done["created"] is True
    assert done["streams_to_refold"] == ["agreement-a", "agreement-b"]
    again = await api.client.post(f"/people/{helene}/erasure", json=body, headers=api.auth("admin"))
    assert (again.status_code, again.json()["position"]) == (200, head + 1)

    log = await api.client.get("/events", headers=api.auth("auditor"))
    assert ERASED_NAME not in log.text and OTHER_NAME in log.text
    stream = await api.client.get("/streams/agreement-a/events", headers=api.auth("auditor"))
    assert ERASED_NAME not in stream.text and f"[erased {helene}]" in stream.text
    report = (await api.client.get(f"/people/{helene}", headers=api.auth("auditor"))).json()
    assert report["erased"] is True and ERASED_NAME not in str(report)
    erasure = report["erasure"]
    assert (erasure["position"], erasure["legal_basis"], erasure["reason"]) == (
        head + 1,
        "GDPR Art. 17(1)(a)",
        "the person asked",
    )
    assert erasure["recorded_by"] and erasure["recorded_at"] > report["mentions"][0]["recorded_at"]
    verified = await api.client.get("/audit/verify", headers=api.auth("auditor"))
    assert verified.status_code == 200 and verified.json()["report"]["ok"] is True
    missing = await api.client.post(
        f"/people/{'0' * 32}/erasure", json=body, headers=api.auth("admin")
    )
    assert missing.status_code == 404


async def test_an_admin_erases_a_note_text_and_views_forget_it(api: Api) -> None:
    store = api.services.store
    await record_history(store)
    stream = await store.read_stream("agreement-a")
    note = next(e for e in stream if e.type == "NoteAttached")
    body = {"legal_basis": "GDPR Art. 17(1)(c)", "reason": "the note names a third party"}
    for role in ("recorder", "viewer", "auditor"):
        refused = await api.client.post(
            f"/notes/{note.event_id}/erasure", json=body, headers=api.auth(role)
        )
        assert refused.status_code == 403
    head = await api.head()
    shown = await api.client.get(
        "/partnerships/agreement-a", params={"wait_for_position": head}, headers=api.auth("viewer")
    )
    assert "harbour master" in shown.text
    bad = await api.client.post(
        f"/notes/{note.event_id}/erasure", json={"reason": "x"}, headers=api.auth("admin")
    )
    assert bad.status_code == 422 and "legal_basis" in bad.text and await api.head() == head
    done = await api.client.post(
        f"/notes/{note.event_id}/erasure", json=body, headers=api.auth("admin")
    )
    assert done.status_code == 201, done.text
    assert done.json() == {"event_id": note.event_id, "position": head + 1, "created": True}
    again = await api.client.post(
        f"/notes/{note.event_id}/erasure", json=body, headers=api.auth("admin")
    )
    assert (again.status_code, again.json()["position"]) == (200, head + 1)
    view = await api.client.get(
        "/partnerships/agreement-a",
        params={"wait_for_position": head + 1},
        headers=api.auth("viewer"),
    )
    assert "harbour master" not in view.text
    log = await api.client.get("/streams/agreement-a/events", headers=api.auth("auditor"))
    assert "harbour master" not in log.text and "[erased]" in log.text
    missing = await api.client.post(
        f"/notes/{stream[0].event_id}/erasure", json=body, headers=api.auth("admin")
    )
    assert missing.status_code == 404  # a signing is no note
