"""A correction of personal data that asks for it (`erase_original`) also removes the old value
from the corrected event's stored row, in the correction's transaction; views show the
corrected value, and every proof still holds. On SQLite and PostgreSQL, over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from events.erasure import scrub_files
from tests.conftest import Api, signed
from tests.test_api_corrections import corrected

SIGNING = "5d0c8a9e-3b1f-4e2a-9c7d-6b5a4f3e2d10"
WRONG = "Luc Van den hoove"
RIGHT = "Luc Van den hove"
KEPT = "Atsuyoshi Koike"


def _parties(first: str) -> list[dict[str, Any]]:
    return [
        {"organisation": "imec", "signatory": {"name": first, "title": "CEO"}},
        {"organisation": "Rapidus", "signatory": {"name": KEPT}},
    ]


async def _post(api: Api, *events: dict[str, Any]) -> Any:
    return await api.client.post(
        "/streams/agreement-imec/events",
        json={"events": list(events)},
        headers=api.auth("recorder"),
    )


async def _stream_text(api: Api) -> str:
    response = await api.client.get("/streams/agreement-imec/events", headers=api.auth("auditor"))
    assert response.status_code == 200
    return response.text


async def test_a_rectification_erases_the_old_value_and_views_show_the_new(
    api: Api, tmp_path: Path
) -> None:
    first = await _post(api, signed(SIGNING, parties=_parties(WRONG)))
    assert first.status_code == 201, first.text
    before_correction = first.json()["to_position"]
    fix = corrected(SIGNING, {"parties": _parties(RIGHT)}, reason="misspelt (Art. 16)")
    fix["data"]["erase_original"] = True
    done = await _post(api, fix)
    assert done.status_code == 201, done.text
    position = done.json()["to_position"]

    log = await _stream_text(api)
    assert WRONG not in log and RIGHT in log and KEPT in log
    assert "[erased " in log
    view = await api.client.get(
        "/partnerships/agreement-imec",
        params={"wait_for_position": position},
        headers=api.auth("viewer"),
    )
    assert RIGHT in view.text and WRONG not in view.text and KEPT in view.text
    past = await api.client.get(
        "/partnerships/agreement-imec",
        params={"as_of_position": before_correction},
        headers=api.auth("viewer"),
    )
    assert past.status_code == 200 and WRONG not in past.text and "[erased " in past.text
    verified = await api.client.get("/audit/verify", headers=api.auth("auditor"))
    assert verified.json()["report"]["ok"] is True
    url = make_url(api.services.store.engine.url)
    if url.get_backend_name() == "sqlite" and url.database:
        assert await scrub_files(api.services.store)
        raw = _read(Path(url.database))
        assert WRONG.encode() not in raw and RIGHT.encode() in raw


async def test_a_plain_correction_keeps_the_original_and_a_refused_one_erases_nothing(
    api: Api,
) -> None:
    assert (await _post(api, signed(SIGNING, parties=_parties(WRONG)))).status_code == 201
    invalid = corrected(SIGNING, {"parties": _parties(RIGHT), "signed_on": "6 December"})
    invalid["data"]["erase_original"] = True
    head = await api.head()
    refused = await _post(api, invalid)
    assert refused.status_code == 422, refused.text
    assert refused.json()["rule"] == "correction_invalid_for_type"
    assert await api.head() == head and WRONG in await _stream_text(api)
    plain = await _post(api, corrected(SIGNING, {"parties": _parties(RIGHT)}))
    assert plain.status_code == 201
    assert WRONG in await _stream_text(api)  # the original is kept, as corrections keep it


def _read(file: Path) -> bytes:
    return file.read_bytes()
