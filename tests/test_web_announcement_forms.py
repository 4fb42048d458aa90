"""Forms for an agreement's beginnings over HTTP: recording an announcement, its signing
later, and a signed document (the fingerprint of a file, not the file)."""

from __future__ import annotations

import re

import msgspec

from tests.conftest import Api
from tests.test_web import _hidden, sign_in

ANNOUNCED = "agreement-fit-kotra-2023"


async def _announce(api: Api) -> str:
    page = await api.client.get("/web/partnerships/new?start=announcement")
    assert page.status_code == 200
    assert "Record an announced agreement" in page.text
    fields = {
        **_hidden(page.text, "announcement"),
        "agreement_id": "fit-kotra-2023",
        "kind": "MoU",
        "title": "Trade missions",
        "announced_on": "2023-03-01",
        "parties[0].organisation": "Flanders Investment & Trade",
        "parties[0].country": "BE",
        "parties[1].organisation": "KOTRA",
        "parties[1].signatory.name": "유정열",
    }
    answer = await api.client.post("/web/partnerships/new?start=announcement", data=fields)
    assert answer.status_code == 303, answer.text[-1500:]
    return str(answer.headers["location"])


def _forms(text: str) -> set[str]:
    return set(re.findall(r'data-form="([^"]+)"', text))


async def test_an_announcement_then_its_signing_recorded_with_forms(api: Api) -> None:
    await sign_in(api, "recorder")
    location = await _announce(api)
    (announced,) = await api.services.store.read_stream(ANNOUNCED)
    assert announced.type == "AgreementAnnounced"
    assert msgspec.json.decode(announced.data)["announced_on"] == "2023-03-01"

    page = await api.client.get(location)
    assert "not signed yet" in page.text
    assert _forms(page.text) == {"sign", "endorse", "document", "note"}
    signing = _hidden(page.text, "sign")
    assert signing["title"] == "Trade missions"  # starts from what was announced
    assert signing["parties[1].organisation"] == "KOTRA"
    assert signing["parties[1].signatory.name"] == "유정열"

    answer = await api.client.post(
        f"/web/partnerships/{ANNOUNCED}/record/sign",
        data={**signing, "kind": "MoU", "signed_on": "2023-04-12", "place": "Seoul"},
    )
    assert answer.status_code == 303, answer.text[-1500:]
    signed = (await api.services.store.read_stream(ANNOUNCED))[-1]
    assert signed.type == "AgreementSigned"
    data = msgspec.json.decode(signed.data)
    assert data["signed_on"] == "2023-04-12" and data["parties"][0]["country"] == "BE"

    after = await api.client.get(answer.headers["location"])
    assert "signed 2023-04-12" in after.text
    assert {"follow-up", "witness", "assign", "document"} <= _forms(after.text)
    assert "sign" not in _forms(after.text)


async def test_a_signed_document_is_recorded_by_its_fingerprint(api: Api) -> None:
    await sign_in(api, "recorder")
    page = await api.client.get(await _announce(api))
    fields = {
        **_hidden(page.text, "document"),
        "document_id": "signed-instrument",
        "name": "MoU FIT KOTRA.pdf",
        "media_type": "application/pdf",
        "sha256": "ab" * 31,  # two digits short
        "size": "48213",
    }
    refused = await api.client.post(f"/web/partnerships/{ANNOUNCED}/record/document", data=fields)
    assert refused.status_code == 422
    assert re.search(r'name="sha256"[^>]*aria-invalid="true"', refused.text), refused.text[-3000:]
    assert await api.services.store.stream_version(ANNOUNCED) == 1

    fields["sha256"] = "ab" * 32
    answer = await api.client.post(f"/web/partnerships/{ANNOUNCED}/record/document", data=fields)
    assert answer.status_code == 303, answer.text[-1500:]
    recorded = (await api.services.store.read_stream(ANNOUNCED))[-1]
    assert recorded.type == "DocumentRecorded"
    assert msgspec.json.decode(recorded.data)["size"] == 48213
    shown = await api.client.get(answer.headers["location"])
    assert "MoU FIT KOTRA.pdf" in shown.text and "48213 bytes" in shown.text
